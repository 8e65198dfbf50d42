#include "support/connection_swarm.hpp"

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <system_error>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace sessiond::testing {

namespace {

std::system_error os_error(std::string_view what) {
    return std::system_error(errno, std::generic_category(), std::string(what));
}

}  // namespace

connection_swarm::connection_swarm(std::uint16_t port) : port_(port) {
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) throw os_error("epoll_create1");
}

connection_swarm::~connection_swarm() {
    for (auto& s : slots_)
        if (s.fd >= 0) ::close(s.fd);
    ::close(epoll_);
}

std::size_t connection_swarm::open() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw os_error("socket");
    const std::size_t i = slots_.size();
    slot& s = slots_.emplace_back();
    s.fd = fd;
    s.c.opened_at = clock::now();
    ++counts_[static_cast<std::size_t>(phase::connecting)];
    // Edge-triggered: EPOLLOUT fires when the connect completes and when a full send buffer drains,
    // not all the time an open connection could take bytes.
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = i;
    if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev) != 0) throw os_error("epoll_ctl");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port_);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) {
        s.c.connected_at = clock::now();
        set_phase(s, phase::open);
    } else if (errno != EINPROGRESS) {
        end(i, phase::failed, errno);
    }
    return i;
}

void connection_swarm::send(std::size_t i, std::string_view bytes) {
    slot& s = slots_.at(i);
    if (s.fd < 0 || s.shut) return;
    s.pending.append(bytes);
    if (s.c.state == phase::open) flush(i);
}

void connection_swarm::finish_sending(std::size_t i) {
    slot& s = slots_.at(i);
    s.finish = true;
    if (s.c.state == phase::open) flush(i);
}

bool connection_swarm::run_until(const std::function<bool()>& done, clock::time_point deadline) {
    std::array<epoll_event, 1024> events{};
    while (!done()) {
        const auto now = clock::now();
        if (now >= deadline) return false;
        // Rounded up: a wait that ends a little early would only spin.
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
        const int n = ::epoll_wait(epoll_, events.data(), static_cast<int>(events.size()),
                                   static_cast<int>(std::min<long long>(left, 60'000)));
        if (n < 0) {
            if (errno == EINTR) continue;
            throw os_error("epoll_wait");
        }
        for (int k = 0; k < n; ++k) on_events(static_cast<std::size_t>(events[k].data.u64), events[k].events);
    }
    return true;
}

void connection_swarm::on_events(std::size_t i, std::uint32_t events) {
    slot& s = slots_.at(i);
    if (s.fd < 0) return;
    if (s.c.state == phase::connecting) {
        if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) return;
        int error = 0;
        socklen_t len = sizeof error;
        ::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &error, &len);
        if (error != 0) {
            end(i, phase::failed, error);
            return;
        }
        s.c.connected_at = clock::now();
        set_phase(s, phase::open);
    }
    if ((events & EPOLLOUT) != 0) flush(i);
    if (s.fd >= 0 && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) receive(i);
}

void connection_swarm::flush(std::size_t i) {
    slot& s = slots_.at(i);
    while (s.fd >= 0 && !s.pending.empty()) {
        const ssize_t n = ::send(s.fd, s.pending.data(), s.pending.size(), MSG_NOSIGNAL);
        if (n > 0) {
            s.pending.erase(0, static_cast<std::size_t>(n));
            s.c.sent += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // EPOLLOUT comes back
        // EPIPE or a reset: the server is gone; what it sent before is read, then the end recorded.
        s.pending.clear();
        receive(i);
        if (s.fd >= 0) end(i, phase::closed_by_server, errno);
        return;
    }
    if (s.fd >= 0 && s.finish && !s.shut) {
        ::shutdown(s.fd, SHUT_WR);
        s.shut = true;
    }
}

void connection_swarm::receive(std::size_t i) {
    slot& s = slots_.at(i);
    char chunk[16 * 1024];
    while (s.fd >= 0) {
        const ssize_t n = ::recv(s.fd, chunk, sizeof chunk, 0);
        if (n > 0) {
            s.c.received.append(chunk, static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        end(i, phase::closed_by_server, n == 0 ? 0 : errno);
    }
}

void connection_swarm::end(std::size_t i, phase how, int error) {
    slot& s = slots_.at(i);
    if (s.fd < 0) return;
    ::close(s.fd);  // also leaves the epoll set
    s.fd = -1;
    s.pending.clear();
    s.c.error = error;
    s.c.ended_at = clock::now();
    set_phase(s, how);
}

void connection_swarm::set_phase(slot& s, phase p) {
    --counts_[static_cast<std::size_t>(s.c.state)];
    s.c.state = p;
    ++counts_[static_cast<std::size_t>(p)];
}

}  // namespace sessiond::testing
