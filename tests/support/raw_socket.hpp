#pragma once
// A raw TCP exchange for tests that must send what no HTTP client would (garbage, oversized headers,
// half requests): connect to 127.0.0.1:port, send the bytes, read until the server closes or the
// timeout passes. Blocking POSIX sockets with SO_RCVTIMEO/SO_SNDTIMEO, so a server bug fails the
// test instead of hanging it.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace sessiond::testing {

struct raw_reply {
    std::string bytes;         // everything the server sent
    bool closed_by_server = false;  // EOF or reset seen before the timeout
};

// Throws std::runtime_error when the connection cannot be made. A send the server cuts short
// (it answered and closed before reading everything) is not an error: the reply is still read.
raw_reply raw_exchange(std::uint16_t port, std::string_view bytes,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10));

// A connection kept open, read as the server sends (a server-sent event stream): each read waits at
// most until the bound given, so a server that stops sending fails the test instead of hanging it.
class raw_connection {
public:
    // Throws std::runtime_error when the connection cannot be made.
    explicit raw_connection(std::uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(10));
    ~raw_connection();
    raw_connection(const raw_connection&) = delete;
    raw_connection& operator=(const raw_connection&) = delete;

    // Sends all of bytes, or as much as the server takes before it stops reading.
    void send(std::string_view bytes);
    // Reads until done(everything received so far) or the bound passes or the server closes; true
    // when done said so.
    template <class Done>
    bool read_until(Done done, std::chrono::milliseconds bound) {
        const auto deadline = std::chrono::steady_clock::now() + bound;
        while (!done(std::string_view(received_))) {
            if (closed_ || std::chrono::steady_clock::now() >= deadline || !read_some(deadline)) return false;
        }
        return true;
    }
    [[nodiscard]] const std::string& received() const noexcept { return received_; }
    [[nodiscard]] bool closed_by_server() const noexcept { return closed_; }

private:
    // One read, waiting at most until the deadline; false when nothing came.
    bool read_some(std::chrono::steady_clock::time_point deadline);

    int fd_ = -1;
    std::string received_;
    bool closed_ = false;
};

// The status code of the first HTTP response in bytes ("HTTP/1.1 431 ..."), or 0.
unsigned first_status(std::string_view bytes);

}  // namespace sessiond::testing
