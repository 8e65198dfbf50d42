#pragma once
// What api.ibkr.com decides, without any I/O: a parsed request and the current time go in, the
// response and (when refused) the reason come out. It owns the registered clients and their OAuth
// access tokens, and per username the SSO session, the brokerage session, the rate limiters and the
// orders; the penalty boxes (per IP address), maintenance and the counters.
//
// Sessions, the penalty box and timed maintenance end by comparing times, never by timers: the same
// `now` gives the same answer.

#include "ibkr_sim/http_types.hpp"
#include "ibkr_sim/order_book.hpp"
#include "ibkr_sim/rate_limiter.hpp"
#include "ibkr_sim/replica_overlaps.hpp"
#include "ibkr_sim/rsa_public_key.hpp"
#include "ibkr_sim/sim_config.hpp"
#include "ibkr_sim/sim_types.hpp"

#include <boost/json/object.hpp>

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sessiond::sim {

// n random bytes. Tokens and session ids come from here, so tests can make them predictable.
using random_source = std::function<std::string(std::size_t)>;
std::string openssl_random_bytes(std::size_t n);

// What a WebSocket upgrade to /v1/api/ws was granted with: the I/O layer accepts the upgrade and
// keeps these to check the session's {"session":...} message and to end the socket with the session.
struct websocket_grant {
    std::string bearer;
    std::string session_token;
    std::size_t user = 0;  // whose session: the index of ibkr_model::user()
};

struct model_reply {
    http_response response;
    std::string reason;  // why the request was refused; empty when it was served
    // A history request in flight, of this user: the caller answers it and then calls release_history_slot(user).
    std::optional<std::size_t> history_slot;
    // Orders of this user (an index of ibkr_model::user()) were placed: its WebSocket subscribers of
    // sor/str/spl get an update.
    std::optional<std::size_t> orders_changed;
    // An accepted WebSocket upgrade (the response is a placeholder 101; the I/O layer answers it).
    std::optional<websocket_grant> websocket;
};

struct brokerage_status {
    bool authenticated = false;
    bool competing = false;
    bool connected = false;
    bool established = false;
};

// Successful operations (a 429 or 401 does not count as a tickle), of one user.
struct user_counters {
    std::uint64_t sso_sessions_created = 0;
    std::uint64_t validates = 0;
    std::uint64_t inits = 0;
    std::uint64_t accounts = 0;
    std::uint64_t tickles = 0;
    std::uint64_t logouts = 0;
    std::uint64_t orders_placed = 0;
    std::uint64_t websockets_accepted = 0;
};

// ... of every user together, and what belongs to no user.
struct model_counters : user_counters {
    std::uint64_t tokens_issued = 0;
    // Not an operation: requests that arrived while a penalty box was closed (each one got 429).
    std::uint64_t penalty_box_violations = 0;
};

class ibkr_model {
public:
    // Refuses clients whose keys do not parse or disagree, and usernames or accounts given twice
    // (the configuration checks these first and names the field; here they are programming errors).
    static expected<ibkr_model> create(model_config config, random_source random = openssl_random_bytes);

    model_reply handle(const http_request& req, wall_time now);
    // Checks a request's User-Agent against the replica holding the user it acts for, before it is
    // served (replica_overlaps). It acts for a user when it carries one of the user's SSO bearers
    // (Authorization, or a WebSocket upgrade's ?bearer_token=) or its `api` session cookie, live or
    // recently ended; logins (token, sso-sessions) act for nobody. handle() calls it; the I/O layer
    // calls it for the requests an injected fault answers in IBKR's place, so that no fault hides an
    // overlap.
    void note_request(const http_request& req, wall_time now);

    // What the control API can do to IBKR. `username` nullopt: every user; an unknown one: nothing
    // (check with find_user first).
    // Every SSO session and OAuth token expires now; for one user only its SSO session (the OAuth
    // tokens belong to its client, which may serve other users).
    void expire_sessions(std::optional<std::string_view> username = std::nullopt);
    // The brokerage session times out (connected, not authenticated).
    void drop_brokerage(std::optional<std::string_view> username = std::nullopt);
    // Another platform logs in with the same username.
    void set_competing(bool on, std::optional<std::string_view> username = std::nullopt);
    void set_maintenance(bool on);   // every endpoint answers 503 until switched off
    void start_maintenance(wall_time now, sim_duration duration);  // ... for `duration` from now
    // IBKR's daily reset: every session ends now (expire_sessions, and the competing platform's
    // brokerage session too), then maintenance for `maintenance` (none when 0).
    void nightly_reset(wall_time now, sim_duration maintenance);
    // Resets the counters and the received order bodies (not the orders, nor the limiters).
    void reset_counters() noexcept;
    // Ends a history request that held one of the user's 5 concurrent slots.
    void release_history_slot(std::size_t user) noexcept;

    // ---- every user together ----
    [[nodiscard]] const model_counters& counters() const noexcept { return counters_; }
    [[nodiscard]] std::size_t active_sso_sessions(wall_time now) const;
    // Each field true when it is true for some user (the single user's status, with one).
    [[nodiscard]] brokerage_status brokerage(wall_time now) const;
    // Whether some user meets a competing session.
    [[nodiscard]] bool competing() const noexcept;
    [[nodiscard]] bool maintenance(wall_time now) const noexcept;
    // Until timed maintenance ends; nullopt when maintenance is off or on until switched off.
    [[nodiscard]] std::optional<sim_duration> maintenance_left(wall_time now) const noexcept;
    // Until the last penalty box opens; nullopt when every one is open.
    [[nodiscard]] std::optional<sim_duration> penalty_box_left(wall_time now) const noexcept;
    // Until the penalty box of this IP address opens; nullopt when it is open.
    [[nodiscard]] std::optional<sim_duration> penalty_box_left(wall_time now, std::string_view ip) const noexcept;
    [[nodiscard]] const model_config& config() const noexcept { return config_; }
    // Whether `bearer` is a user's SSO bearer and its session has not ended.
    [[nodiscard]] bool sso_bearer_active(std::string_view bearer, wall_time now) const;
    // History requests in flight, every user's together, now and at most since reset_counters().
    [[nodiscard]] std::size_t history_in_flight() const noexcept { return history_in_flight_; }
    [[nodiscard]] std::size_t history_max_in_flight() const noexcept { return history_max_in_flight_; }
    static constexpr std::size_t max_concurrent_history = 5;  // per user
    // Every access token and SSO bearer handed out, to any client or user (the latest 1024, or two
    // per client and user when that is more), so that tests can prove the daemon never prints one.
    // The simulator's tokens protect nothing.
    [[nodiscard]] const std::deque<std::string>& issued_tokens() const noexcept { return issued_tokens_; }
    static constexpr std::size_t max_issued_tokens = 1024;
    // Every body that reached the order endpoint.
    [[nodiscard]] const order_body_log& order_bodies() const noexcept { return order_bodies_; }
    // Per username, the agent holding it and the requests other agents made for it. Not reset by
    // reset_counters(): a test's reset must not hide an overlap that happened before it.
    [[nodiscard]] const replica_overlaps& overlaps() const noexcept { return overlaps_; }

    // ---- one user: an index from 0 to user_count() - 1, in the order of the configuration ----
    [[nodiscard]] std::size_t user_count() const noexcept { return users_.size(); }
    [[nodiscard]] std::optional<std::size_t> find_user(std::string_view username) const;
    [[nodiscard]] const user_config& user(std::size_t index) const { return config_.users.at(index); }
    [[nodiscard]] bool sso_active(std::size_t user, wall_time now) const;
    [[nodiscard]] brokerage_status brokerage(std::size_t user, wall_time now) const;
    [[nodiscard]] bool competing(std::size_t user) const { return users_.at(user).competing; }
    [[nodiscard]] const user_counters& counters(std::size_t user) const { return users_.at(user).counters; }
    [[nodiscard]] const order_book& orders(std::size_t user) const { return users_.at(user).orders; }

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
    // Everything IBKR keeps per username. Small (limiters and the order book allocate only when used)
    // and without timers, so that 10,000 users fit.
    struct user_state {
        user_state(const model_config& c, const user_config& u, std::size_t client);
        std::size_t client;  // index into clients_
        std::optional<sso_session> sso;
        brokerage_session brokerage;
        bool competing = false;  // another platform holds this username's brokerage session
        std::optional<sliding_window_limiter> request_limit;  // all endpoints together; none when 0
        sliding_window_limiter tickle_limit;
        sliding_window_limiter validate_limit;
        // IBKR's per-endpoint table (section 4 of the gateway reference), in its order; unused when switched off.
        std::vector<sliding_window_limiter> endpoint_limits;
        std::size_t history_in_flight = 0;
        order_book orders;
        user_counters counters;
    };
    // A registered OAuth client: what verifies its assertions and SSO JWTs, and its usernames.
    struct client_state {
        std::string id;
        std::string key_id;
        rsa_public_key key;
        std::string scope;
        std::vector<std::size_t> users;
        // The address its own requests (token, sso-sessions) are seen from: its users' allowed_ip
        // when they all agree, else the simulator's loopback.
        std::string ip;
        // Its own request window, when it has several users (with one it shares that user's).
        std::optional<sliding_window_limiter> request_limit;
    };
    struct oauth_token {
        wall_time expires;
        std::size_t client;
    };
    struct ended_bearer {
        std::string bearer;
        std::string why;
        std::size_t user;
        std::string session_token;  // its session's `api` cookie, which also names the user
    };
    // Whose request window and whose address a request counts in, decided before it is served.
    struct pacing_subject {
        sliding_window_limiter* window;  // nullptr: no request limit
        const std::string* ip;
    };

    ibkr_model(model_config config, std::vector<client_state> clients, random_source random);

    // The answer for a request that passed the pacing: 411, 404/405, maintenance, the endpoint.
    model_reply serve(const http_request& req, wall_time now);
    // The user, else the client, else nobody the request names (by its bearer or its assertion).
    pacing_subject subject_of(const http_request& req);
    pacing_subject subject_of_user(std::size_t user);
    pacing_subject subject_of_client(std::size_t client);
    // The penalty box of the subject's address, then its request rate: a 429 or nothing.
    std::optional<model_reply> pace(const pacing_subject& who, wall_time now);
    void close_penalty_box(const std::string& ip, wall_time now);
    // The client a token request is from: named by client_id, else by the assertion's iss, else the
    // only client there is.
    [[nodiscard]] std::optional<std::size_t> token_client(std::string_view body) const;
    model_reply create_token(const http_request& req, wall_time now);
    model_reply create_sso_session(const http_request& req, wall_time now);
    model_reply validate(user_state& user, wall_time now);
    model_reply init_brokerage(const http_request& req, user_state& user, wall_time now);
    model_reply list_accounts(user_state& user);
    model_reply tickle(user_state& user, wall_time now);
    model_reply auth_status(const user_state& user, wall_time now) const;
    model_reply logout(user_state& user);
    model_reply accept_websocket(const http_request& req, wall_time now);
    model_reply portfolio_accounts(const user_state& user) const;
    model_reply account_orders(const user_state& user) const;
    model_reply account_trades(const user_state& user) const;
    model_reply pnl_partitioned(const user_state& user, wall_time now) const;
    model_reply snapshot(const http_request& req, wall_time now) const;
    model_reply history(const http_request& req, user_state& user, wall_time now);
    model_reply place_order(const http_request& req, user_state& user, std::string_view account, wall_time now);
    // The endpoint's own pacing (snapshot 10/s, orders 1/5 s ...): a 429 or nothing.
    std::optional<model_reply> pace_endpoint(user_state& user, std::string_view path, wall_time now);
    // /iserver/* beyond /iserver/accounts: a 400 "no bridge" without a brokerage session, a 500
    // "Please query /accounts first" before /iserver/accounts, or nothing.
    std::optional<model_reply> require_brokerage(const user_state& user) const;

    // The user an SSO bearer or an `api` session cookie was issued for, live or among the ended_bearers_.
    [[nodiscard]] std::optional<std::size_t> user_of_bearer(std::string_view bearer) const;
    [[nodiscard]] std::optional<std::size_t> user_of_session_cookie(std::string_view session_token) const;
    // The user whose session a request acts on (see note_request), or nobody.
    [[nodiscard]] std::optional<std::size_t> user_acted_for(const http_request& req) const;

    // The user whose active SSO bearer the request carries, or the 401 IBKR answers.
    checked<user_state*> authorize_sso_bearer(std::optional<std::string_view> bearer, wall_time now);
    // The client the OAuth access token was issued to, or the 401 IBKR answers.
    checked<std::size_t> authorize_oauth_token(const http_request& req, wall_time now);

    void end_sso_session(user_state& user, std::string_view why);
    void extend_sso_session(sso_session& sso, wall_time now) const;
    void settle_idle_brokerage(user_state& user, wall_time now) const;
    void count(user_state& user, std::uint64_t user_counters::*which, std::uint64_t n = 1) noexcept;
    // Every user, or the one named (none when it is unknown).
    template <class F>
    void for_users(std::optional<std::string_view> username, F&& f);
    [[nodiscard]] std::size_t index_of(const user_state& user) const noexcept;
    [[nodiscard]] const user_config& config_of(const user_state& user) const noexcept;
    [[nodiscard]] brokerage_status status_of(const user_state& user, wall_time now) const;
    [[nodiscard]] boost::json::object auth_status_json(const brokerage_status& s) const;
    [[nodiscard]] boost::json::object server_info_json() const;
    [[nodiscard]] std::string random_token();
    [[nodiscard]] std::string random_hex(std::size_t bytes);

    model_config config_;
    random_source random_;
    std::vector<client_state> clients_;
    std::size_t oauth_token_limit_;
    std::size_t ended_bearer_limit_;
    std::size_t issued_token_limit_;
    std::map<std::string, std::size_t, std::less<>> client_index_;  // client_id -> clients_
    std::vector<user_state> users_;                                 // as config_.users
    std::map<std::string, std::size_t, std::less<>> user_index_;    // username -> users_
    std::map<std::string, std::size_t, std::less<>> sso_bearers_;   // each user's latest SSO bearer -> users_
    std::map<std::string, oauth_token, std::less<>> oauth_tokens_;
    // Requests that name no client or user (no bearer, an unknown one): their window (with one user,
    // that user's) and their address (the users' common allowed_ip, else loopback).
    std::optional<sliding_window_limiter> anonymous_limit_;
    std::string anonymous_ip_;
    // Bearers that stopped working recently and why, so that a 401 can say "superseded" (bounded).
    std::deque<ended_bearer> ended_bearers_;
    std::deque<std::string> issued_tokens_;
    bool maintenance_ = false;
    std::optional<time_span> maintenance_span_;  // set while maintenance is timed
    // IBKR boxes the violating IP address: the closed boxes by address (expired ones are pruned).
    std::map<std::string, time_span, std::less<>> penalty_boxes_;
    model_counters counters_;
    order_body_log order_bodies_;
    std::int64_t next_order_id_ = first_order_id;
    std::size_t history_in_flight_ = 0;
    std::size_t history_max_in_flight_ = 0;
    replica_overlaps overlaps_;
};

}  // namespace sessiond::sim
