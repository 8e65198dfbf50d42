#pragma once
// The HTTPS side: accepts TLS connections, reads HTTP/1.1 requests (keep-alive), lets queued faults
// act first, asks the model for everything else, and records and logs one line per request.

#include "ibkr_sim/fault_injector.hpp"
#include "ibkr_sim/http_io.hpp"
#include "ibkr_sim/ibkr_model.hpp"
#include "ibkr_sim/request_journal.hpp"
#include "ibkr_sim/sim_config.hpp"

#include "sessiond/core/error.hpp"
#include "sessiond/log/log.hpp"
#include "sessiond/net/tcp_listener.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <chrono>
#include <cstdint>

namespace sessiond::sim {

struct https_server_options {
    std::size_t max_connections = 256;
    message_limits limits;
    std::chrono::steady_clock::duration handshake_timeout = std::chrono::seconds(30);
    // How long a "hang" fault holds a connection when neither the client nor a stop ends it.
    std::chrono::steady_clock::duration hang_limit = std::chrono::seconds(600);
};

class https_server {
public:
    https_server(asio::io_context& ioc, asio::ssl::context& tls, ibkr_model& model, fault_injector& faults,
                 request_journal& journal, logger log, https_server_options options);

    // Binds (SO_REUSEADDR, so that a restarted simulator gets its port back) and returns the port.
    expected<std::uint16_t> listen(const listen_address& where);
    void start();
    // Stops accepting and closes every connection, held ones included.
    void stop();

    [[nodiscard]] std::size_t open_connections() const noexcept { return listener_.connections().size(); }
    [[nodiscard]] std::uint64_t refused_connections() const noexcept { return listener_.counters().refused; }

private:
    using tls_stream = beast::ssl_stream<beast::tcp_stream>;
    enum class after_response { keep_open, shut_down, closed };

    asio::awaitable<void> serve(asio::ip::tcp::socket socket, connection_registry::membership membership);
    asio::awaitable<void> apply_handshake_fault(tls_stream& stream, const fault& f);
    asio::awaitable<after_response> respond(tls_stream& stream, asio::steady_timer& timer, const http_request& req);
    // The fault actions that end the connection without a (complete) response: hang, reset, truncate.
    asio::awaitable<void> break_connection(tls_stream& stream, const fault& f, request_event e,
                                           std::chrono::steady_clock::time_point began);
    asio::awaitable<void> answer_unreadable(tls_stream& stream, http::status status, std::chrono::steady_clock::time_point began);
    // Holds a connection without answering until the client closes it, the server stops or hang_limit passes.
    asio::awaitable<void> hold(tls_stream& stream);
    http_response fault_response(const fault& f) const;
    void record(request_event e, std::chrono::steady_clock::time_point began);

    asio::io_context& ioc_;
    asio::ssl::context& tls_;
    ibkr_model& model_;
    fault_injector& faults_;
    request_journal& journal_;
    logger log_;
    https_server_options options_;
    tcp_listener listener_;
    bool stopping_ = false;
};

}  // namespace sessiond::sim
