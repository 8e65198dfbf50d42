#pragma once
// One client WebSocket over TLS to the IBKR endpoint (wss://<host>/v1/api/ws for the gateway).
//
// Opening it (resolve, TCP connect, TLS handshake, HTTP upgrade) has one deadline; TLS is verified
// as the HTTPS client verifies it (tls_dialer.hpp), with the same TLS context. An open socket reads
// messages up to max_message bytes and pings a peer that has been silent for half the idle timeout;
// one that stays silent for the whole of it is closed (the read fails with timeout).
//
// One read and one write at a time, each awaited by its caller; close() and cancel() end both.

#include "sessiond/core/secret.hpp"
#include "sessiond/net/tls_dialer.hpp"

#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace sessiond {

class websocket_client {
public:
    static constexpr std::size_t max_message = 1024 * 1024;

    struct upgrade {
        std::string target;      // "/v1/api/ws?bearer_token=..." (may carry a secret: never logged)
        secret cookie;           // the Cookie header, empty for none
        std::string user_agent;
    };

    websocket_client(boost::asio::any_io_executor executor, std::shared_ptr<boost::asio::ssl::context> tls,
                     base_url endpoint, std::chrono::milliseconds idle_timeout);
    websocket_client(const websocket_client&) = delete;
    websocket_client& operator=(const websocket_client&) = delete;

    // Connects and upgrades within `timeout`. A refused upgrade fails as bad_response, naming the
    // HTTP status IBKR answered (upgrade_status()).
    boost::asio::awaitable<boost::system::result<void, transport_failure>> open(upgrade request,
                                                                                std::chrono::milliseconds timeout);
    // The HTTP status of a refused upgrade (0 when the last open got no HTTP answer, or succeeded).
    [[nodiscard]] unsigned upgrade_status() const noexcept { return upgrade_status_; }

    // The next message into `buffer` (cleared first). An error ends the socket.
    boost::asio::awaitable<boost::system::error_code> read(boost::beast::flat_buffer& buffer);
    boost::asio::awaitable<boost::system::error_code> write(std::string_view text);
    // The closing handshake (bounded by the idle timeout), then the connection is dropped.
    boost::asio::awaitable<void> close(boost::beast::websocket::close_code code);
    // Drops the connection now: a read or write in progress ends with an error.
    void cancel();

    [[nodiscard]] bool is_open() const noexcept { return stream_ && stream_->is_open(); }

private:
    using stream_type = boost::beast::websocket::stream<tls_tcp_stream>;

    boost::asio::any_io_executor executor_;
    std::shared_ptr<boost::asio::ssl::context> tls_;
    std::chrono::milliseconds idle_timeout_;
    tls_dialer dialer_;
    std::optional<stream_type> stream_;
    unsigned upgrade_status_ = 0;
};

}  // namespace sessiond
