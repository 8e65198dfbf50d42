#pragma once
// One WebSocket on /v1/api/ws, over a connection the HTTPS server handed over: accepts the upgrade,
// then reads the client's messages, writes the queued ones, sends the system heartbeat and the market
// data ticks, all on the event loop, until the socket closes. Everything ends together: when one of
// the four loops ends (the client left, a write failed or timed out, the queue overflowed, the
// session ended, a drop or a stop closed the socket) the others are cancelled and run() returns.

#include "ibkr_sim/ibkr_model.hpp"
#include "ibkr_sim/sim_server.hpp"
#include "ibkr_sim/websocket_registry.hpp"
#include "ibkr_sim/ws_protocol.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <optional>

namespace sessiond::sim {

struct ws_options {
    sim_duration heartbeat{std::chrono::seconds(10)};
    sim_duration market_data_interval{std::chrono::seconds(1)};
    std::size_t send_queue_bytes = 1024 * 1024;
    sim_duration idle_timeout{std::chrono::seconds(90)};
    std::chrono::steady_clock::duration write_timeout = std::chrono::seconds(30);
};

class ws_connection final : public ws_peer {
public:
    ws_connection(server_stream& stream, const ibkr_model& model, websocket_registry& registry, websocket_grant grant,
                  ws_options options);
    ws_connection(const ws_connection&) = delete;
    ws_connection& operator=(const ws_connection&) = delete;
    ~ws_connection() override;

    // Accepts the upgrade and serves the socket until it ends.
    asio::awaitable<void> run(http_request upgrade);

    bool close() override;
    void orders_changed() override;
    [[nodiscard]] const std::string& bearer() const override { return grant_.bearer; }
    [[nodiscard]] std::size_t user() const override { return grant_.user; }
    [[nodiscard]] boost::json::object describe() const override;

private:
    asio::awaitable<void> read_loop();
    asio::awaitable<void> write_loop();
    // Calls `tick` every `period` until it returns false or the socket ends.
    asio::awaitable<void> every(sim_duration period, bool (ws_connection::*tick)(wall_time now));
    // The system heartbeat, the end of the session, sts on a change of the brokerage's authentication.
    bool heartbeat(wall_time now);
    // One update per subscribed conid.
    bool market_data_tick(wall_time now);
    // Closes the TCP connection: every pending operation ends, and with it every loop.
    void shut_down();
    // Queues a message; a full queue cuts the client off.
    void send(std::string message);
    void answer(std::string_view message);
    // The sts the socket should see now: the session message matched and the brokerage is authenticated.
    [[nodiscard]] bool sts_value() const;
    // The orders of the socket's user.
    [[nodiscard]] const order_book& orders() const { return model_.orders(grant_.user); }

    server_stream& stream_;
    boost::beast::websocket::stream<server_stream&> ws_;
    const ibkr_model& model_;
    websocket_registry& registry_;
    websocket_grant grant_;
    ws_options options_;
    ws_subscriptions subscriptions_;
    send_queue queue_;
    asio::steady_timer wake_;  // the writer waits on it while the queue is empty
    std::optional<std::uint64_t> id_;
    std::optional<bool> last_sts_;
    bool ending_ = false;
};

}  // namespace sessiond::sim
