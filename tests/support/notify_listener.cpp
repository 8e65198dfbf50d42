#include "support/notify_listener.hpp"

#include "support/sanitizers.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace sessiond::testing {

namespace {

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what + ": " + std::strerror(errno)); }

// Big enough for any sd_notify message; a longer one is recorded cut, which a test would notice.
constexpr std::size_t max_datagram = 64 * 1024;

}  // namespace

std::size_t count_lines(const std::vector<notify_message>& messages, std::string_view prefix) {
    std::size_t n = 0;
    for (const notify_message& m : messages) {
        std::string_view rest = m.text;
        while (!rest.empty()) {
            const auto end = rest.find('\n');
            const std::string_view line = rest.substr(0, end);
            if (line.starts_with(prefix)) ++n;
            if (end == std::string_view::npos) break;
            rest.remove_prefix(end + 1);
        }
    }
    return n;
}

notify_listener::notify_listener() : path_(dir_.path() / "notify") {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const std::string path = path_.string();
    if (path.size() >= sizeof(address.sun_path)) throw std::runtime_error("notify socket path too long: " + path);
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);

    socket_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (socket_ < 0) fail("socket");
    if (::bind(socket_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
        ::close(socket_);
        fail("bind " + path);
    }
    // The sender's pid comes with each datagram, as systemd uses it for NotifyAccess=main.
    const int on = 1;
    if (::setsockopt(socket_, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) != 0) {
        ::close(socket_);
        fail("SO_PASSCRED");
    }
    if (::pipe2(wake_, O_CLOEXEC) != 0) {
        ::close(socket_);
        fail("pipe2");
    }
    reader_ = std::thread([this] { read_loop(); });
}

notify_listener::~notify_listener() {
    const char stop = 'x';
    (void)!::write(wake_[1], &stop, 1);
    reader_.join();
    ::close(wake_[0]);
    ::close(wake_[1]);
    ::close(socket_);
}

void notify_listener::read_loop() {
    std::vector<char> buffer(max_datagram);
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
    for (;;) {
        pollfd fds[2] = {{socket_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return;
        }
        if (fds[1].revents != 0) return;
        if ((fds[0].revents & POLLIN) == 0) continue;

        iovec iov{buffer.data(), buffer.size()};
        msghdr header{};
        header.msg_iov = &iov;
        header.msg_iovlen = 1;
        header.msg_control = control;
        header.msg_controllen = sizeof(control);
        const ssize_t n = ::recvmsg(socket_, &header, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0) continue;  // EAGAIN after a spurious wake-up

        notify_message message;
        message.arrived = std::chrono::steady_clock::now();
        message.text.assign(buffer.data(), std::min(static_cast<std::size_t>(n), buffer.size()));
        for (cmsghdr* c = CMSG_FIRSTHDR(&header); c != nullptr; c = CMSG_NXTHDR(&header, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
                c->cmsg_len == CMSG_LEN(sizeof(ucred))) {
                ucred credentials{};
                std::memcpy(&credentials, CMSG_DATA(c), sizeof(credentials));
                message.sender = credentials.pid;
            }
        }
        {
            const std::lock_guard lock(mutex_);
            messages_.push_back(std::move(message));
        }
        arrived_.notify_all();
    }
}

std::vector<notify_message> notify_listener::messages() const {
    const std::lock_guard lock(mutex_);
    return messages_;
}

std::size_t notify_listener::count(std::string_view prefix) const {
    const std::lock_guard lock(mutex_);
    return count_lines(messages_, prefix);
}

bool notify_listener::wait_for(const std::function<bool(const std::vector<notify_message>&)>& predicate,
                               std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return arrived_.wait_for(lock, patience(timeout), [&] { return predicate(messages_); });
}

bool notify_listener::wait_for_count(std::string_view prefix, std::size_t n, std::chrono::milliseconds timeout) {
    return wait_for([&](const std::vector<notify_message>& m) { return count_lines(m, prefix) >= n; }, timeout);
}

}  // namespace sessiond::testing
