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

// The status code of the first HTTP response in bytes ("HTTP/1.1 431 ..."), or 0.
unsigned first_status(std::string_view bytes);

}  // namespace sessiond::testing
