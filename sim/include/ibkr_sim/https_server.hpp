#pragma once
// The HTTPS side, on the project's http_server over TLS: lets queued faults act first (before the
// handshake, or before the model for a request), asks the model for everything else, and records and
// logs one line per request. The faults that end a connection without a (complete) response (hang,
// reset, truncate) take the connection over from the server.

#include "ibkr_sim/fault_injector.hpp"
#include "ibkr_sim/ibkr_model.hpp"
#include "ibkr_sim/request_journal.hpp"
#include "ibkr_sim/sim_config.hpp"
#include "ibkr_sim/sim_server.hpp"
#include "ibkr_sim/websocket_registry.hpp"
#include "ibkr_sim/ws_connection.hpp"

#include "sessiond/core/error.hpp"
#include "sessiond/log/log.hpp"
#include "sessiond/server/http_server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>

#include <chrono>
#include <cstdint>

namespace sessiond::sim {

struct https_server_options {
    std::size_t max_connections = 256;
    // How long a "hang" fault holds a connection when neither the client nor a stop ends it.
    std::chrono::steady_clock::duration hang_limit = std::chrono::seconds(600);
    // How long /iserver/marketdata/history takes to answer (its slot of the 5 concurrent is held meanwhile).
    std::chrono::steady_clock::duration history_delay{};
    ws_options websocket;
};

class https_server {
public:
    https_server(asio::io_context& ioc, asio::ssl::context& tls, ibkr_model& model, fault_injector& faults,
                 request_journal& journal, websocket_registry& websockets, logger log, https_server_options options);

    // Binds (SO_REUSEADDR, so that a restarted simulator gets its port back) and returns the port.
    expected<std::uint16_t> listen(const listen_address& where);
    void start();
    // Stops accepting and closes every connection, held ones and WebSockets included.
    void stop();

    [[nodiscard]] std::size_t open_connections() const noexcept { return server_.open_connections(); }
    [[nodiscard]] std::uint64_t refused_connections() const { return server_.stats().refused; }

private:
    using steady_time = std::chrono::steady_clock::time_point;

    asio::awaitable<server_reply> respond(http_request req, const connection_context& context);
    asio::awaitable<bool> apply_handshake_fault(server_stream& stream);
    // The fault actions that end the connection without a (complete) response: hang, reset, truncate.
    asio::awaitable<void> break_connection(server_stream& stream, fault f, request_event e, steady_time began);
    http_response answer_unreadable(http::status status, steady_time began);
    // Holds a connection without answering until the client closes it, the server stops or hang_limit passes.
    asio::awaitable<void> hold(server_stream& stream);
    http_response fault_response(const fault& f) const;
    // Answers the upgrade the model granted and serves the WebSocket until it ends.
    asio::awaitable<void> serve_websocket(server_stream& stream, http_request upgrade, websocket_grant grant,
                                          request_event e, steady_time began);
    // Holds a history request's slot for history_delay (or until the connection closes), then frees it.
    asio::awaitable<void> hold_history_slot(const connection_context& context, std::size_t user);
    void record(request_event e, steady_time began);

    ibkr_model& model_;
    fault_injector& faults_;
    request_journal& journal_;
    websocket_registry& websockets_;
    logger log_;
    https_server_options options_;
    bool stopping_ = false;
    http_server server_;  // last: its handler and hooks call the members above
};

}  // namespace sessiond::sim
