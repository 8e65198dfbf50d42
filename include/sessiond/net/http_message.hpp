#pragma once
// What the HTTPS client sends and receives, and how an exchange can fail below HTTP. The caller
// (ibkr/) classifies these failures together with the HTTP statuses it reads.

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstdint>
#include <string>

namespace sessiond {

using http_request = boost::beast::http::request<boost::beast::http::string_body>;
using http_response = boost::beast::http::response<boost::beast::http::string_body>;

enum class transport_error : std::uint8_t {
    timeout,       // no complete answer before the deadline (resolve, connect, TLS, write, read)
    transport,     // refused, reset, closed early, name not resolved
    tls,           // handshake or certificate verification failed
    bad_response,  // an answer that is not HTTP, or over the size limits
    cancelled,     // cancel() was called
};

struct transport_failure {
    transport_error kind = transport_error::transport;
    std::string detail;
};

}  // namespace sessiond
