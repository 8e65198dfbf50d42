#include "support/pausable_proxy.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace sessiond::testing {

namespace {

int connect_unix(const std::string& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
        ::close(fd);
        return -1;
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

// Writes all of it (the other end reads: a test's daemon or PostgreSQL); false when it closed.
bool write_all(int fd, const char* data, std::size_t size) {
    while (size > 0) {
        const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
        if (n <= 0) return false;
        data += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace

pausable_proxy::pausable_proxy(std::string unix_path) : target_(std::move(unix_path)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (listener_ < 0 || ::bind(listener_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listener_, 64) != 0 || ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
        ::pipe2(wake_, O_CLOEXEC) != 0)
        throw std::runtime_error(std::string("pausable_proxy: ") + std::strerror(errno));
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
}

pausable_proxy::~pausable_proxy() {
    stopping_ = true;
    wake();
    thread_.join();
    ::close(listener_);
    ::close(wake_[0]);
    ::close(wake_[1]);
}

void pausable_proxy::pause() {
    paused_ = true;
    wake();
}

void pausable_proxy::resume() {
    paused_ = false;
    wake();
}

void pausable_proxy::wake() {
    const char c = 0;
    (void)!::write(wake_[1], &c, 1);
}

void pausable_proxy::run() {
    // Each pair: the accepted connection and the one made to the target, forwarded both ways.
    std::vector<std::array<int, 2>> pairs;
    std::array<char, 65536> buffer{};
    while (!stopping_) {
        std::vector<pollfd> fds{{wake_[0], POLLIN, 0}};
        const bool paused = paused_.load();
        if (!paused) {
            fds.push_back({listener_, POLLIN, 0});
            for (const auto& p : pairs) {
                fds.push_back({p[0], POLLIN, 0});
                fds.push_back({p[1], POLLIN, 0});
            }
        }
        if (::poll(fds.data(), fds.size(), -1) < 0) continue;
        if ((fds[0].revents & POLLIN) != 0) {
            char drain[64];
            (void)!::read(wake_[0], drain, sizeof drain);
        }
        if (paused || paused_.load()) continue;
        if ((fds[1].revents & POLLIN) != 0) {
            const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
            if (client >= 0) {
                const int server = connect_unix(target_);
                if (server < 0) {
                    ::close(client);
                } else {
                    pairs.push_back({client, server});
                    ++accepted_;
                }
            }
        }
        std::vector<std::array<int, 2>> open;
        for (std::size_t i = 0; i < pairs.size(); ++i) {
            bool closed = false;
            for (int side = 0; side < 2 && !closed; ++side) {
                // The pairs polled are the first ones (a pair accepted just now was not).
                const std::size_t at = 2 + i * 2 + static_cast<std::size_t>(side);
                if (at >= fds.size() || (fds[at].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
                const ssize_t n = ::recv(pairs[i][side], buffer.data(), buffer.size(), 0);
                closed = n <= 0 || !write_all(pairs[i][1 - side], buffer.data(), static_cast<std::size_t>(n));
            }
            if (closed) {
                ::close(pairs[i][0]);
                ::close(pairs[i][1]);
            } else {
                open.push_back(pairs[i]);
            }
        }
        pairs = std::move(open);
    }
    for (const auto& p : pairs) {
        ::close(p[0]);
        ::close(p[1]);
    }
}

}  // namespace sessiond::testing
