#include "support/raw_socket.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

namespace sessiond::testing {

namespace {

void set_timeout(int fd, int option, std::chrono::milliseconds t) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(t.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
    ::setsockopt(fd, SOL_SOCKET, option, &tv, sizeof tv);
}

}  // namespace

raw_connection::raw_connection(std::uint16_t port, std::chrono::milliseconds timeout)
    : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    set_timeout(fd_, SO_RCVTIMEO, timeout);
    set_timeout(fd_, SO_SNDTIMEO, timeout);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        const std::string why = std::strerror(errno);
        ::close(fd_);
        throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port) + ": " + why);
    }
}

raw_connection::~raw_connection() { ::close(fd_); }

void raw_connection::send(std::string_view bytes) {
    for (std::size_t sent = 0; sent < bytes.size();) {
        const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;  // the server stopped reading (it may have answered already)
        sent += static_cast<std::size_t>(n);
    }
}

bool raw_connection::read_some(std::chrono::steady_clock::time_point deadline) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    set_timeout(fd_, SO_RCVTIMEO, std::max(left, std::chrono::milliseconds(1)));
    char buffer[4096];
    const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n > 0) {
        received_.append(buffer, static_cast<std::size_t>(n));
        return true;
    }
    closed_ = n == 0 || errno == ECONNRESET;
    return false;
}

raw_reply raw_exchange(std::uint16_t port, std::string_view bytes, std::chrono::milliseconds timeout) {
    raw_connection c(port, timeout);
    c.send(bytes);
    // Until the server closes, or nothing more comes within the timeout.
    while (!c.closed_by_server()) {
        const std::size_t before = c.received().size();
        c.read_until([before](std::string_view r) { return r.size() > before; }, timeout);
        if (c.received().size() == before) break;
    }
    return {c.received(), c.closed_by_server()};
}

unsigned first_status(std::string_view bytes) {
    constexpr std::string_view prefix = "HTTP/1.";
    if (bytes.size() < prefix.size() + 6 || !bytes.starts_with(prefix)) return 0;
    unsigned code = 0;
    for (std::size_t i = prefix.size() + 2; i < prefix.size() + 5; ++i) {
        const char c = bytes[i];
        if (c < '0' || c > '9') return 0;
        code = code * 10 + static_cast<unsigned>(c - '0');
    }
    return code;
}

}  // namespace sessiond::testing
