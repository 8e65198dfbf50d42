#pragma once
// The byte stream one server connection runs on: a TCP socket, or TLS over one. Type-erased by a
// branch per operation rather than a template, so that Beast's HTTP operations are instantiated once
// for both (in http_connection.cpp) and a handler taking over a connection (http_handler.hpp) needs
// to know only this type. It is an Asio AsyncStream: Beast's reads, writes and WebSocket stream
// (websocket::stream<server_stream&>, with the teardown below) run on it.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/teardown.hpp>

#include <cstddef>
#include <utility>
#include <variant>

namespace sessiond {

class server_stream {
public:
    using executor_type = boost::asio::any_io_executor;
    using tcp_socket = boost::asio::ip::tcp::socket;
    using tls_stream = boost::asio::ssl::stream<tcp_socket>;

    explicit server_stream(tcp_socket socket) : stream_(std::in_place_type<tcp_socket>, std::move(socket)) {}
    // TLS, the handshake not done yet (http_connection does it).
    server_stream(tcp_socket socket, boost::asio::ssl::context& tls)
        : stream_(std::in_place_type<tls_stream>, std::move(socket), tls) {}

    executor_type get_executor() { return socket().get_executor(); }

    // The TCP layer (under TLS too): options, shutdown, close, the peer's address.
    tcp_socket& socket() noexcept {
        if (auto* t = std::get_if<tls_stream>(&stream_)) return t->next_layer();
        return std::get<tcp_socket>(stream_);
    }
    // The TLS layer; nullptr for plain TCP.
    tls_stream* tls() noexcept { return std::get_if<tls_stream>(&stream_); }
    [[nodiscard]] bool is_tls() const noexcept { return std::holds_alternative<tls_stream>(stream_); }

    template <class MutableBufferSequence, class Token>
    auto async_read_some(const MutableBufferSequence& buffers, Token&& token) {
        return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](auto handler, const MutableBufferSequence& b) {
                if (auto* t = tls())
                    t->async_read_some(b, std::move(handler));
                else
                    std::get<tcp_socket>(stream_).async_read_some(b, std::move(handler));
            },
            token, buffers);
    }

    template <class ConstBufferSequence, class Token>
    auto async_write_some(const ConstBufferSequence& buffers, Token&& token) {
        return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](auto handler, const ConstBufferSequence& b) {
                if (auto* t = tls())
                    t->async_write_some(b, std::move(handler));
                else
                    std::get<tcp_socket>(stream_).async_write_some(b, std::move(handler));
            },
            token, buffers);
    }

private:
    std::variant<tcp_socket, tls_stream> stream_;
};

// What Beast closes when a WebSocket fails (beast::close_socket, found through ADL): the TCP socket.
inline void beast_close_socket(server_stream& stream) {
    boost::system::error_code ignored;
    stream.socket().close(ignored);
}

// The end of a WebSocket closing handshake, found by Beast through ADL: close_notify under TLS, else
// the TCP shutdown.
inline void teardown(boost::beast::role_type role, server_stream& stream, boost::system::error_code& ec) {
    if (auto* tls = stream.tls())
        boost::beast::teardown(role, *tls, ec);
    else
        boost::beast::websocket::teardown(role, stream.socket(), ec);
}

template <class TeardownHandler>
void async_teardown(boost::beast::role_type role, server_stream& stream, TeardownHandler&& handler) {
    if (auto* tls = stream.tls())
        boost::beast::async_teardown(role, *tls, std::forward<TeardownHandler>(handler));
    else
        boost::beast::websocket::async_teardown(role, stream.socket(), std::forward<TeardownHandler>(handler));
}

}  // namespace sessiond
