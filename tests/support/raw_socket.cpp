#include "support/raw_socket.hpp"

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

class fd_guard {
public:
    explicit fd_guard(int fd) : fd_(fd) {}
    ~fd_guard() {
        if (fd_ >= 0) ::close(fd_);
    }
    fd_guard(const fd_guard&) = delete;
    fd_guard& operator=(const fd_guard&) = delete;
    [[nodiscard]] int get() const noexcept { return fd_; }

private:
    int fd_;
};

void set_timeout(int fd, int option, std::chrono::milliseconds t) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(t.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
    ::setsockopt(fd, SOL_SOCKET, option, &tv, sizeof tv);
}

}  // namespace

raw_reply raw_exchange(std::uint16_t port, std::string_view bytes, std::chrono::milliseconds timeout) {
    const fd_guard fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    set_timeout(fd.get(), SO_RCVTIMEO, timeout);
    set_timeout(fd.get(), SO_SNDTIMEO, timeout);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
        throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(errno));

    for (std::size_t sent = 0; sent < bytes.size();) {
        const ssize_t n = ::send(fd.get(), bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;  // the server stopped reading (it may have answered already)
        sent += static_cast<std::size_t>(n);
    }
    raw_reply reply;
    char buffer[4096];
    for (;;) {
        const ssize_t n = ::recv(fd.get(), buffer, sizeof buffer, 0);
        if (n > 0) {
            reply.bytes.append(buffer, static_cast<std::size_t>(n));
            continue;
        }
        reply.closed_by_server = n == 0 || errno == ECONNRESET;
        break;
    }
    return reply;
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
