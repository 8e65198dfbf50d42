#pragma once
// The gateway: trading applications written for IBKR's Client Portal Gateway call IBKR's Web API
// through the daemon, unchanged (http://<SESSIOND_LISTEN>/v1/api/...). Each call goes to IBKR with
// the kept session's SSO bearer and cookies, paced by the username's one pacer together with the
// session's own calls, and comes back as IBKR answered it.
//
// A request, in order:
//   1. who may call: loopback clients, or with SESSIOND_GATEWAY_TOKEN set, a request bearing it
//      (401 otherwise); the client's Authorization never reaches IBKR;
//   2. where it goes (gateway_routes.hpp): the session's own endpoints are refused (403), /tickle,
//      /iserver/auth/status and /sso/validate are answered from the daemon's state;
//   3. the session: a call waits, within SESSIOND_GATEWAY_MAX_WAIT, until the brokerage session is
//      connected; otherwise 503 with Retry-After and the reason;
//   4. IBKR's limits (pacing_queue.hpp): a call waits its turn within what is left of that wait;
//      otherwise a local 429 with Retry-After (IBKR never sees a call over its limits);
//   5. IBKR: the request is sent once, never retried (a repeated order is money), over one of the
//      user's connections to IBKR; IBKR's status, body and Content-Type come back. IBKR's Set-Cookie
//      is kept by the session. A 401 makes the session check itself at once (and log in again when
//      its SSO session is gone); a 429 silences every caller of the username for its period.
//
// The WebSocket (/v1/api/ws) passes the same access rule (with a token set, the cookie
// sessiond_gateway_token=<token> also serves, since WebSocket clients send cookies more easily than
// headers) and waits for the session the same way; beyond ws_relay_options::max_sockets it is
// refused 503. An accepted upgrade is handed to the ws_relay (ws_relay.hpp).
//
// What the gateway logs: one line per non-2xx answer and per call that waited; routine 200s at
// debug. Never a body, a token or a cookie.

#include "sessiond/config/settings.hpp"
#include "sessiond/gateway/gateway_routes.hpp"
#include "sessiond/gateway/pacing_queue.hpp"
#include "sessiond/gateway/ws_relay.hpp"
#include "sessiond/log/log.hpp"
#include "sessiond/metrics/histogram.hpp"
#include "sessiond/server/http_handler.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace sessiond {

class session_registry;
class session_keeper;
class https_client;

struct gateway_stats {
    // Answers by endpoint class (gateway_routes.hpp) and status code: bounded label sets.
    std::map<std::pair<std::string_view, unsigned>, std::uint64_t> answers;
    std::uint64_t forwarded = 0;      // sent to IBKR
    std::uint64_t local_429 = 0;      // IBKR's limits would not allow the call in time
    std::uint64_t local_503 = 0;      // no connected session in time
    std::uint64_t upstream_failures = 0;  // IBKR did not answer (502/504)
    std::uint64_t ibkr_401 = 0;
    std::uint64_t ibkr_429 = 0;
    histogram queue_wait{request_duration_buckets()};       // seconds a forwarded call waited (session + pacing)
    histogram upstream_latency{request_duration_buckets()};  // seconds IBKR took to answer
    ws_relay_stats websocket;  // the gateway's WebSocket (ws_relay.hpp)
};

class gateway {
public:
    // Requests the gateway takes bodies up to this size (413 beyond); the daemon's API keeps its own.
    static constexpr std::size_t max_request_body = 1024 * 1024;
    // IBKR's answers are read up to this size (history and contract searches are large); a bigger
    // one is answered 502. At most max_connections_per_user answers are held at once per user.
    static constexpr std::size_t max_response_body = 16 * 1024 * 1024;
    static constexpr std::size_t max_connections_per_user = 8;

    gateway(boost::asio::any_io_executor executor, session_registry& sessions, logger log);
    ~gateway();
    gateway(const gateway&) = delete;
    gateway& operator=(const gateway&) = delete;

    // At start and on every reload.
    void configure(const settings& config);
    [[nodiscard]] bool enabled() const noexcept { return options_.enabled; }
    [[nodiscard]] const gateway_options& options() const noexcept { return options_; }

    // Multi-user mode: the token a client bears (Authorization: Bearer, or for the WebSocket the
    // cookie sessiond_gateway_token) selects the IBKR username whose session serves it; none: the
    // token is nobody's, or its user has no credential. Once set, neither the gateway token nor
    // loopback admits anyone.
    using user_resolver = std::function<std::optional<std::string>(std::string_view token)>;
    void resolve_users_with(user_resolver resolve) { resolve_user_ = std::move(resolve); }

    // Several replicas: whether another replica holds the session of this IBKR username. Such a
    // request is answered 503 at once, with Retry-After: 1 and X-Sessiond-Replica naming this one,
    // and sent nowhere: a load balancer in front of the replicas tries the next one (nginx:
    // proxy_next_upstream http_503 non_idempotent), which is safe because nothing reached IBKR.
    using elsewhere_check = std::function<bool(std::string_view username)>;
    void held_elsewhere_with(std::string replica_id, elsewhere_check check) {
        replica_id_ = std::move(replica_id);
        held_elsewhere_ = std::move(check);
    }

    // Whether the gateway serves this client: loopback, or with a gateway token, one bearing it (as
    // Authorization: Bearer, or for the WebSocket also as the cookie sessiond_gateway_token); in
    // multi-user mode, a user's token.
    [[nodiscard]] bool allowed(const server_request& request, const peer_info& peer,
                               gateway_action action = gateway_action::forward) const {
        return client_of(request, peer, action).has_value();
    }
    // The IBKR username whose session serves this client ("" in single-user mode: the one user), or
    // none when the gateway does not serve it.
    [[nodiscard]] std::optional<std::string> client_of(const server_request& request, const peer_info& peer,
                                                       gateway_action action) const;

    // A request the router sent here (route.action is not not_gateway).
    boost::asio::awaitable<server_reply> handle(server_request request, const connection_context& context,
                                                gateway_route route);

    // Any session changed: calls waiting for a connected session look again.
    void on_sessions_changed();
    // Calls still waiting end with 503; nothing new is forwarded.
    void stop();

    [[nodiscard]] const gateway_stats& stats() const noexcept { return stats_; }
    // Where clients reach it (for the status): "http://127.0.0.1:4257", and the HTTPS listener's or empty.
    void set_listeners(std::string http_url, std::string https_url);
    // The status JSON's "gateway" block: on or off, where, who may call, and what it has done.
    [[nodiscard]] boost::json::object status_json() const;
    // Calls waiting now, for the session or for IBKR's limits.
    [[nodiscard]] std::size_t waiting() const noexcept;

private:
    struct user_state;
    class connection_pool;

    // `username` is the client's (client_of): "" for the one user of single-user mode.
    boost::asio::awaitable<server_reply> open_websocket(server_request request, const connection_context& context,
                                                        const gateway_route& route, std::string username);
    // 503 with Retry-After: the session does not serve clients within the gateway's wait.
    server_response session_unavailable(const server_request& request, std::string_view what,
                                        std::string_view username);
    boost::asio::awaitable<server_reply> forward(server_request request, const connection_context& context,
                                                 const gateway_route& route, std::string username);
    server_reply local_answer(const server_request& request, gateway_action action, std::string_view username);
    // Waits until `username`'s session serves clients, or the deadline; the session then, or null.
    boost::asio::awaitable<session_keeper*> session_in_time(std::chrono::steady_clock::time_point deadline,
                                                            const connection_context& context, std::string username);
    user_state& user_for(std::string_view username, session_keeper& session);
    server_response answer(const server_request& request, std::string_view endpoint_class,
                           server_response response);

    boost::asio::any_io_executor executor_;
    session_registry& sessions_;
    logger log_;
    gateway_options options_;
    user_resolver resolve_user_;
    std::string replica_id_;
    elsewhere_check held_elsewhere_;
    // The answer to a request for a session another replica holds (none when this one serves it).
    [[nodiscard]] std::optional<server_response> elsewhere(const server_request& req, std::string_view username);
    std::chrono::milliseconds http_timeout_{10'000};
    std::chrono::milliseconds rate_limit_penalty_{900'000};
    std::map<std::string, std::unique_ptr<user_state>, std::less<>> users_;  // by IBKR username
    struct session_waiter;
    std::vector<session_waiter*> session_waiters_;
    // The gateway's own value of tickle's "session" (IBKR's stays inside the daemon).
    std::string local_session_;
    std::string http_url_;
    std::string https_url_;
    gateway_stats stats_;
    class ws_sessions;
    std::unique_ptr<ws_sessions> ws_sessions_;  // the registry's sessions, as the relay sees them
    ws_relay relay_;
    bool stopping_ = false;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace sessiond
