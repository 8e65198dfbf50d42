#pragma once
// What api.ibkr.com decides, without any I/O: a parsed request and the current time go in, the
// response and (when refused) the reason come out. It owns the OAuth access tokens, the user's SSO
// session, the brokerage session, the per-user rate limiters, the penalty box and the counters.
//
// Sessions, the penalty box and timed maintenance end by comparing times, never by timers: the same
// `now` gives the same answer.

#include "ibkr_sim/http_types.hpp"
#include "ibkr_sim/order_book.hpp"
#include "ibkr_sim/rate_limiter.hpp"
#include "ibkr_sim/rsa_public_key.hpp"
#include "ibkr_sim/sim_config.hpp"
#include "ibkr_sim/sim_types.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace sessiond::sim {

// n random bytes. Tokens and session ids come from here, so tests can make them predictable.
using random_source = std::function<std::string(std::size_t)>;
std::string openssl_random_bytes(std::size_t n);

// What a WebSocket upgrade to /v1/api/ws was granted with: the I/O layer accepts the upgrade and
// keeps these to check the session's {"session":...} message and to end the socket with the session.
struct websocket_grant {
    std::string bearer;
    std::string session_token;
};

struct model_reply {
    http_response response;
    std::string reason;  // why the request was refused; empty when it was served
    // A history request in flight: the caller answers it and then calls release_history_slot().
    bool holds_history_slot = false;
    // Orders were placed: WebSocket subscribers of sor/str/spl get an update.
    bool orders_changed = false;
    // An accepted WebSocket upgrade (the response is a placeholder 101; the I/O layer answers it).
    std::optional<websocket_grant> websocket;
};

struct brokerage_status {
    bool authenticated = false;
    bool competing = false;
    bool connected = false;
    bool established = false;
};

// Successful operations (a 429 or 401 does not count as a tickle).
struct model_counters {
    std::uint64_t tokens_issued = 0;
    std::uint64_t sso_sessions_created = 0;
    std::uint64_t validates = 0;
    std::uint64_t inits = 0;
    std::uint64_t accounts = 0;
    std::uint64_t tickles = 0;
    std::uint64_t logouts = 0;
    std::uint64_t orders_placed = 0;
    std::uint64_t websockets_accepted = 0;
    // Not an operation: requests that arrived while the penalty box was closed (each one got 429).
    std::uint64_t penalty_box_violations = 0;
};

class ibkr_model {
public:
    ibkr_model(model_config config, rsa_public_key client_key, random_source random = openssl_random_bytes);

    model_reply handle(const http_request& req, wall_time now);

    // What the control API can do to IBKR.
    void expire_sessions();          // every SSO session and OAuth token expires now
    void drop_brokerage();           // the brokerage session times out (connected, not authenticated)
    void set_competing(bool on);     // another platform logs in with the same username
    void set_maintenance(bool on);   // every endpoint answers 503 until switched off
    void start_maintenance(wall_time now, sim_duration duration);  // ... for `duration` from now
    // IBKR's daily reset: every session ends now (expire_sessions, and the competing platform's
    // brokerage session too), then maintenance for `maintenance` (none when 0).
    void nightly_reset(wall_time now, sim_duration maintenance);
    // Resets the counters and the received order bodies (not the orders, nor the limiters).
    void reset_counters() noexcept;
    // Ends a history request that held a slot of the 5 concurrent ones.
    void release_history_slot() noexcept;

    [[nodiscard]] const model_counters& counters() const noexcept { return counters_; }
    [[nodiscard]] std::size_t active_sso_sessions(wall_time now) const;
    [[nodiscard]] brokerage_status brokerage(wall_time now) const;
    [[nodiscard]] bool competing() const noexcept { return competing_; }
    [[nodiscard]] bool maintenance(wall_time now) const noexcept;
    // Until timed maintenance ends; nullopt when maintenance is off or on until switched off.
    [[nodiscard]] std::optional<sim_duration> maintenance_left(wall_time now) const noexcept;
    // Until the penalty box opens; nullopt when it is open.
    [[nodiscard]] std::optional<sim_duration> penalty_box_left(wall_time now) const noexcept;
    [[nodiscard]] const model_config& config() const noexcept { return config_; }
    [[nodiscard]] const order_book& orders() const noexcept { return orders_; }
    // Whether `bearer` is the user's SSO bearer and its session has not ended.
    [[nodiscard]] bool sso_bearer_active(std::string_view bearer, wall_time now) const;
    [[nodiscard]] std::size_t history_in_flight() const noexcept { return history_in_flight_; }
    [[nodiscard]] std::size_t history_max_in_flight() const noexcept { return history_max_in_flight_; }
    static constexpr std::size_t max_concurrent_history = 5;
    // Every access token and SSO bearer handed out (the latest 1024), so that tests can prove the
    // daemon never prints one. The simulator's tokens protect nothing.
    [[nodiscard]] const std::deque<std::string>& issued_tokens() const noexcept { return issued_tokens_; }
    static constexpr std::size_t max_issued_tokens = 1024;

private:
    // [from, until) of the wall clock; a clock stepped back before `from` ends it rather than prolonging it.
    struct time_span {
        wall_time from;
        wall_time until;
        [[nodiscard]] bool contains(wall_time t) const noexcept { return from <= t && t < until; }
    };
    struct sso_session {
        std::string bearer;
        wall_time created;
        wall_time expires;
        std::string session_token;  // tickle's "session"
    };
    struct brokerage_session {
        bool initialised = false;
        bool authenticated = false;
        bool established = false;
        wall_time last_activity{};
        std::string session_id;
    };
    // Everything IBKR keeps per username. The simulator serves one configured user, so every request
    // is that user's, the token and sso-sessions requests included.
    struct user_state {
        explicit user_state(const model_config& c);
        std::optional<sso_session> sso;
        brokerage_session brokerage;
        std::optional<sliding_window_limiter> request_limit;  // all endpoints together; none when 0
        sliding_window_limiter tickle_limit;
        sliding_window_limiter validate_limit;
        // IBKR's per-endpoint table (section 4 of the gateway reference), by path; empty when switched off.
        std::map<std::string, sliding_window_limiter, std::less<>> endpoint_limits;
    };

    // The answer for a request that passed the pacing: 411, 404/405, maintenance, the endpoint.
    model_reply serve(const http_request& req, wall_time now);
    // The penalty box, then the per-user request rate: a 429 or nothing.
    std::optional<model_reply> pace(wall_time now);
    model_reply create_token(const http_request& req, wall_time now);
    model_reply create_sso_session(const http_request& req, wall_time now);
    model_reply validate(user_state& user, wall_time now);
    model_reply init_brokerage(const http_request& req, user_state& user, wall_time now);
    model_reply list_accounts(user_state& user);
    model_reply tickle(user_state& user, wall_time now);
    model_reply auth_status(const user_state& user, wall_time now) const;
    model_reply logout(user_state& user);
    model_reply accept_websocket(const http_request& req, wall_time now);
    model_reply portfolio_accounts() const;
    model_reply account_orders() const;
    model_reply account_trades() const;
    model_reply pnl_partitioned(wall_time now) const;
    model_reply snapshot(const http_request& req, wall_time now) const;
    model_reply history(const http_request& req, wall_time now);
    model_reply place_order(const http_request& req, std::string_view account, wall_time now);
    // The endpoint's own pacing (snapshot 10/s, orders 1/5 s ...): a 429 or nothing.
    std::optional<model_reply> pace_endpoint(user_state& user, std::string_view path, wall_time now);
    // /iserver/* beyond /iserver/accounts: a 400 "no bridge" without a brokerage session, a 500
    // "Please query /accounts first" before /iserver/accounts, or nothing.
    std::optional<model_reply> require_brokerage(const user_state& user) const;

    // The user whose active SSO bearer the request carries, or the 401 IBKR answers.
    checked<user_state*> authorize_sso_bearer(std::optional<std::string_view> bearer, wall_time now);
    std::optional<rejection> authorize_oauth_token(const http_request& req, wall_time now);

    void end_sso_session(user_state& user, std::string_view why);
    void extend_sso_session(sso_session& sso, wall_time now) const;
    void settle_idle_brokerage(user_state& user, wall_time now) const;
    [[nodiscard]] brokerage_status status_of(const user_state& user, wall_time now) const;
    [[nodiscard]] boost::json::object auth_status_json(const brokerage_status& s) const;
    [[nodiscard]] boost::json::object server_info_json() const;
    [[nodiscard]] std::string random_token();
    [[nodiscard]] std::string random_hex(std::size_t bytes);

    model_config config_;
    rsa_public_key client_key_;
    random_source random_;
    std::map<std::string, wall_time, std::less<>> oauth_tokens_;  // access token -> expiry
    user_state user_;
    // Bearers that stopped working recently and why, so that a 401 can say "superseded" (bounded).
    std::deque<std::pair<std::string, std::string>> ended_bearers_;
    std::deque<std::string> issued_tokens_;
    bool competing_ = false;
    bool maintenance_ = false;
    std::optional<time_span> maintenance_span_;  // set while maintenance is timed
    // IBKR boxes the violating IP address; the simulator has one client, so the box is global.
    std::optional<time_span> penalty_box_;
    model_counters counters_;
    order_book orders_;
    std::size_t history_in_flight_ = 0;
    std::size_t history_max_in_flight_ = 0;
};

}  // namespace sessiond::sim
