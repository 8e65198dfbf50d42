#pragma once
// The gateway's WebSocket (ws://<SESSIOND_LISTEN>/v1/api/ws): local clients written for IBKR's
// Client Portal Gateway, relayed over one upstream WebSocket per IBKR user.
//
// Upstream: wss://<IBKR host>/v1/api/ws?bearer_token=<SSO bearer>, with cookie api=<tickle session>
// and the session's cookies, opened with the session's TLS context (websocket_client.hpp). The
// daemon sends {"session":...} at once, tic every tic_interval, and, once IBKR answers sts
// authenticated, every active subscription. A client never sees the bearer, the tickle session or a
// cookie: its own session message and api cookie are ignored, and an upstream message carrying the
// bearer or the tickle session is dropped.
//
// Fan-out (ws_fanout.hpp): subscriptions are counted by key; upstream messages go to their topic's
// subscribers, unsolicited ones (system, sts, ntf, blt, act, error) to every client of the user.
// A client's tic and ech are answered here; WebSocket pings are answered by Beast.
//
// Reconnection: when the upstream drops, or the session logs in again (a new SSO generation), the
// upstream is opened again with backoff and every subscription re-sent; clients keep their sockets.
// When it cannot be reopened within reconnect_bound (or IBKR refuses the upgrade three times in a
// row), every client of that user is closed: 1013 "try again later" while the session is not
// available, 1011 when IBKR refused or failed. A client that does not read its messages is closed
// alone with 1008 "too slow" (its queue is dropped; a write stuck in flight is given cutoff_grace,
// then the TCP connection is closed). The daemon stopping closes every client with 1001.
// The upstream is closed `linger` after its last client left.
//
// One event loop; every wait is a timer; memory is bounded by the socket cap, each client's queue,
// the message size limit and the fan-out's subscription bounds.

#include "sessiond/core/secret.hpp"
#include "sessiond/core/values.hpp"
#include "sessiond/gateway/ws_fanout.hpp"
#include "sessiond/log/log.hpp"
#include "sessiond/server/http_messages.hpp"
#include "sessiond/server/server_stream.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace sessiond {

// What the relay needs of an IBKR user's session: the gateway's reads the session registry, a test
// gives its own.
class ws_session_source {
public:
    struct login {
        secret bearer;          // ?bearer_token=
        secret tickle_session;  // cookie api= and the {"session":...} message
        secret cookies;         // the session's other cookies ("a=1; b=2"), empty for none
        std::uint64_t generation = 0;  // grows with every new SSO session
        std::shared_ptr<boost::asio::ssl::context> tls;
        base_url endpoint;
    };
    virtual ~ws_session_source() = default;
    // While `username`'s session serves clients; nothing otherwise.
    [[nodiscard]] virtual std::optional<login> login_for(std::string_view username) = 0;
    // Waits until IBKR's limits for `username` allow the upgrade request (it counts against IBKR's
    // rate like any request); false when they do not within the gateway's wait, or on `cancelled`.
    virtual boost::asio::awaitable<bool> pace_upgrade(std::string username, boost::asio::cancellation_slot cancelled) = 0;
    // IBKR refused the upgrade: the session should check itself at once.
    virtual void upgrade_refused(std::string_view username) = 0;
};

struct ws_relay_options {
    // Open gateway WebSockets (clients), below the API server's connection cap (512): taken-over
    // connections are never evicted by the server, so idle sockets could otherwise lock /livez out.
    std::size_t max_sockets = 256;
    std::size_t max_message = 1024 * 1024;       // a frame, either way
    std::size_t client_queue_bytes = 1024 * 1024;  // one client's unsent messages (a single bigger one fits an empty queue)
    std::size_t client_queue_frames = 4096;
    std::size_t upstream_queue_bytes = 1024 * 1024;  // the daemon's unsent frames to IBKR
    std::chrono::milliseconds tic_interval{30'000};
    std::chrono::milliseconds open_timeout{10'000};  // connect + TLS + upgrade
    std::chrono::milliseconds idle_timeout{60'000};  // a silent peer is pinged at half, closed at the whole
    std::chrono::milliseconds reconnect_bound{60'000};
    std::chrono::milliseconds first_backoff{500};
    std::chrono::milliseconds max_backoff{8'000};
    std::chrono::milliseconds linger{5'000};
    std::chrono::milliseconds cutoff_grace{5'000};
};

struct ws_relay_stats {
    std::uint64_t open = 0;               // client sockets open now
    std::uint64_t opened = 0;             // client sockets accepted so far
    std::uint64_t refused_full = 0;       // upgrades refused at the cap
    std::uint64_t frames_to_clients = 0;  // written to clients
    std::uint64_t frames_to_ibkr = 0;     // written upstream (the daemon's session, tic, subscriptions included)
    std::uint64_t upstream_opens = 0;
    std::uint64_t upstream_reconnects = 0;  // opens after a drop or a new login, while clients stayed
    std::uint64_t clients_cut_off = 0;      // too slow
    std::uint64_t clients_failed = 0;       // closed because the upstream could not be reopened
    std::uint64_t secrets_dropped = 0;      // upstream messages that carried a secret
};

class ws_relay {
public:
    // `stats` outlives the relay (the gateway's).
    ws_relay(boost::asio::any_io_executor executor, ws_session_source& sessions, logger log, ws_relay_stats& stats);
    ~ws_relay();
    ws_relay(const ws_relay&) = delete;
    ws_relay& operator=(const ws_relay&) = delete;

    void configure(const ws_relay_options& options) { options_ = options; }
    [[nodiscard]] const ws_relay_options& options() const noexcept { return options_; }

    // A socket held from the upgrade's answer until the connection ends; null at the cap.
    [[nodiscard]] std::shared_ptr<void> reserve();

    // Serves one client connection whose upgrade request was `request`, for `username`'s session,
    // until it closes. The stream outlives the call (a connection_takeover).
    boost::asio::awaitable<void> serve(server_stream& stream, server_request request, std::string username);

    // A session changed: a new SSO generation, or a session gone, reopens that user's upstream.
    void on_sessions_changed();
    // Closes every client (1001) and upstream.
    void stop();

    [[nodiscard]] const ws_relay_stats& stats() const noexcept { return stats_; }

private:
    struct client;
    struct upstream;
    struct link;
    struct reservation;

    std::shared_ptr<link> link_for(const std::string& username);
    boost::asio::awaitable<void> run_link(std::shared_ptr<link> l);
    // Waits on the link's timer until `until`; a session change ends a wait `for_session`.
    boost::asio::awaitable<void> wait(link& l, std::chrono::steady_clock::time_point until, bool for_session);
    boost::asio::awaitable<void> run_upstream(std::shared_ptr<link> l, std::shared_ptr<upstream> u);
    boost::asio::awaitable<void> write_upstream(std::shared_ptr<upstream> u);
    boost::asio::awaitable<void> write_client(std::shared_ptr<client> c);
    void on_client_frame(link& l, client& c, std::string text);
    void on_upstream_message(link& l, std::string text);
    void send_upstream(link& l, std::string frame);
    void deliver(client& c, const std::shared_ptr<const std::string>& message);
    void close_client(client& c, boost::beast::websocket::close_code code, std::string_view reason);
    void leave(link& l, client& c);

    boost::asio::any_io_executor executor_;
    ws_session_source& sessions_;
    logger log_;
    ws_relay_options options_;
    std::map<std::string, std::shared_ptr<link>, std::less<>> links_;  // by IBKR username
    std::size_t reserved_ = 0;
    ws_client_id next_client_ = 1;
    bool stopping_ = false;
    ws_relay_stats& stats_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace sessiond
