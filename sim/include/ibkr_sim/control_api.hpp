#pragma once
// The test-facing control API (plain HTTP on loopback), without I/O: queue faults, flip IBKR's
// switches, read state and events. The long poll /control/await is parsed here and waited for by
// the control server.

#include "ibkr_sim/fault_injector.hpp"
#include "ibkr_sim/http_types.hpp"
#include "ibkr_sim/ibkr_model.hpp"
#include "ibkr_sim/request_journal.hpp"
#include "ibkr_sim/sim_config.hpp"
#include "ibkr_sim/websocket_registry.hpp"

#include "sessiond/core/error.hpp"
#include "sessiond/server/route_table.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace sessiond::sim {

inline constexpr std::string_view await_path = "/control/await";

// /control/await?path=P&count=N[&status=S]&timeout_ms=T
struct await_query {
    std::string path;
    std::uint64_t count = 1;
    std::optional<unsigned> status;
    sim_duration timeout{std::chrono::seconds(10)};
};
expected<await_query> parse_await_query(std::string_view query);

// /control/maintenance: {"on":bool} switches maintenance on until switched off, or off (cancelling a
// timed one); {"on":true,"duration_ms":N} switches it on for N ms (1 to 86400000), replacing any timing.
struct maintenance_switch {
    bool on = false;
    std::optional<sim_duration> duration;
};
expected<maintenance_switch> parse_maintenance_switch(std::string_view body);
// /control/nightly-reset: an empty body, {} or {"duration_ms":N}: the maintenance after the reset (0 = none).
expected<sim_duration> parse_nightly_reset(std::string_view body);

// GET /control/overlaps: {"count":N,"overlaps":[{"user","agent","holder","path","at_ms"}]}, the
// requests made for a username by another User-Agent than the one whose login opened its newest SSO
// session (replica_overlaps): N counts all of them, the list keeps the first 100. GET /control/holders:
// {"holders":{"<username>":"<User-Agent of its newest SSO session's login>"}}. reset-stats clears neither.

// The HTTPS server's connections: open now, and refused so far for exceeding --max-connections.
struct connection_stats {
    std::size_t open = 0;
    std::uint64_t refused = 0;
};

class control_api {
public:
    using connection_source = std::function<connection_stats()>;

    control_api(ibkr_model& model, fault_injector& faults, request_journal& journal, websocket_registry& websockets,
                connection_source connections);

    // Every control request except GET /control/await, which the control server waits for.
    http_response handle(const http_request& req, wall_time now);

    [[nodiscard]] std::uint64_t await_count(const await_query& q) const { return journal_.count(q.path, q.status); }
    // 200 {"count":n} when reached, 408 {"count":n} at the timeout.
    static http_response await_response(std::uint64_t count, bool reached);
    static http_response bad_request(std::string_view message);

    // The whole state, its "users" block every user's or only `user`'s (an index of ibkr_model::user()).
    [[nodiscard]] boost::json::object state_json(wall_time now, std::optional<std::size_t> user = std::nullopt) const;

private:
    using endpoint = http_response (control_api::*)(const http_request& req, wall_time now);

    http_response clear_faults(const http_request& req, wall_time now);
    http_response expire_sessions(const http_request& req, wall_time now);
    http_response drop_brokerage(const http_request& req, wall_time now);
    http_response reset_stats(const http_request& req, wall_time now);
    http_response add_fault(const http_request& req, wall_time now);
    http_response competing(const http_request& req, wall_time now);
    http_response maintenance(const http_request& req, wall_time now);
    http_response nightly_reset(const http_request& req, wall_time now);
    http_response state(const http_request& req, wall_time now);
    http_response events(const http_request& req, wall_time now);
    http_response issued_tokens(const http_request& req, wall_time now);
    http_response awaited_elsewhere(const http_request& req, wall_time now);
    http_response order_bodies(const http_request& req, wall_time now);
    http_response list_websockets(const http_request& req, wall_time now);
    http_response drop_websockets(const http_request& req, wall_time now);
    http_response overlaps(const http_request& req, wall_time now);
    http_response holders(const http_request& req, wall_time now);
    // The sockets of sessions that a control action ended close with them.
    void close_ended_websockets(wall_time now);
    // The "user" a control request names (POST body field or GET ?user=), checked to exist: nullopt
    // for every user, or the 400 the request gets.
    using user_choice = boost::system::result<std::optional<std::string>, http_response>;
    [[nodiscard]] user_choice chosen_user(const std::optional<std::string>& name) const;
    [[nodiscard]] boost::json::object user_json(std::size_t user, wall_time now) const;

    ibkr_model& model_;
    fault_injector& faults_;
    request_journal& journal_;
    websocket_registry& websockets_;
    connection_source connections_;
    const route_table<endpoint> routes_;
};

}  // namespace sessiond::sim
