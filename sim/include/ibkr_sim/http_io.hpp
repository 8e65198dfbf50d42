#pragma once
// Reading and writing one HTTP/1.1 message on any Beast stream (TCP or TLS), the same way for both
// servers: a deadline on every operation, a header and a body limit before the read starts, and
// "Expect: 100-continue" answered before the body is read.

#include "ibkr_sim/http_types.hpp"

#include "sessiond/server/http_messages.hpp"  // status_for_read_error: the status owed for an unreadable request

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <array>
#include <chrono>
#include <optional>
#include <tuple>

namespace sessiond::sim {

namespace asio = boost::asio;
namespace beast = boost::beast;

struct message_limits {
    std::size_t header_bytes = 16 * 1024;
    std::size_t body_bytes = 64 * 1024;
    std::chrono::steady_clock::duration read_timeout = std::chrono::seconds(30);
    std::chrono::steady_clock::duration write_timeout = std::chrono::seconds(30);
};

struct read_result {
    boost::system::error_code ec;
    http_request request;
};

template <class Stream>
asio::awaitable<read_result> read_request(Stream& stream, beast::flat_buffer& buffer, const message_limits& limits) {
    constexpr auto token = asio::as_tuple(asio::use_awaitable);
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(limits.header_bytes));
    parser.body_limit(limits.body_bytes);
    beast::get_lowest_layer(stream).expires_after(limits.read_timeout);
    auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, token);
    if (!ec && !parser.is_done() && beast::iequals(parser.get()[http::field::expect], "100-continue")) {
        http::response<http::empty_body> go_on{http::status::continue_, 11};
        std::tie(ec, n) = co_await http::async_write(stream, go_on, token);
    }
    if (!ec && !parser.is_done()) std::tie(ec, n) = co_await http::async_read(stream, buffer, parser, token);
    beast::get_lowest_layer(stream).expires_never();
    read_result out{ec, {}};
    if (!ec) out.request = parser.release();
    co_return out;
}

template <class Stream>
asio::awaitable<boost::system::error_code> write_response(Stream& stream, http_response& res,
                                                          const message_limits& limits) {
    beast::get_lowest_layer(stream).expires_after(limits.write_timeout);
    auto [ec, n] = co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
    beast::get_lowest_layer(stream).expires_never();
    co_return ec;
}

// After refusing a request we did not read to its end, keep reading (and dropping) what the client
// still sends for a short while, so that closing does not reset the connection before the client
// has read the refusal ("lingering close").
template <class Stream>
asio::awaitable<void> drain_unread_request(Stream& stream, std::size_t max_bytes = 1024 * 1024,
                                           std::chrono::steady_clock::duration limit = std::chrono::seconds(2)) {
    beast::get_lowest_layer(stream).expires_after(limit);
    std::array<char, 4096> sink{};
    for (std::size_t drained = 0; drained < max_bytes;) {
        auto [ec, n] = co_await stream.async_read_some(asio::buffer(sink), asio::as_tuple(asio::use_awaitable));
        if (ec) break;
        drained += n;
    }
    beast::get_lowest_layer(stream).expires_never();
}

// Version, keep-alive and Content-Length of a response to req.
void finish_response(http_response& res, const http_request& req);

}  // namespace sessiond::sim
