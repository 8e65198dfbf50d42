#include "ibkr_sim/control_api.hpp"

#include <boost/json/parse.hpp>

#include <algorithm>
#include <charconv>
#include <initializer_list>
#include <map>
#include <utility>

namespace sessiond::sim {

namespace {

namespace json = boost::json;

constexpr std::int64_t max_await_ms = 600'000;
constexpr std::int64_t max_maintenance_ms = 86'400'000;

http_response ok(json::object extra = {}) {
    extra["ok"] = true;
    return json_response(http::status::ok, extra);
}

json::value ms_or_null(std::optional<sim_duration> d) {
    return d ? json::value(d->count()) : json::value(nullptr);
}

http_response error_response(http::status status, std::string_view message) {
    return json_response(status, json::object{{"error", message}});
}

std::optional<std::uint64_t> parse_unsigned(std::string_view text) {
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
    return value;
}

// A JSON object body whose fields are all among `known`; an empty body is {} when `empty_is_object`.
expected<json::object> parse_object(std::string_view body, std::initializer_list<std::string_view> known,
                                    bool empty_is_object, std::string_view shape) {
    if (empty_is_object && body.find_first_not_of(" \t\r\n") == std::string_view::npos) return json::object{};
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec || !v.is_object()) return make_error("body must be " + std::string(shape));
    for (const auto& field : v.as_object())
        if (std::find(known.begin(), known.end(), field.key()) == known.end())
            return make_error("unknown field \"" + std::string(field.key()) + "\"; body must be " + std::string(shape));
    return std::move(v.as_object());
}

// The optional "user" field: a username.
expected<std::optional<std::string>> user_field(const json::object& o) {
    const auto* user = o.if_contains("user");
    if (user == nullptr) return std::optional<std::string>{};
    if (!user->is_string() || user->get_string().empty()) return make_error(R"(field "user" must be a username)");
    return std::optional<std::string>(std::string(user->get_string()));
}

// An empty body, {} or {"user":"<username>"}: the user a control action applies to (nullopt: every user).
expected<std::optional<std::string>> parse_user_body(std::string_view body) {
    auto o = parse_object(body, {"user"}, true, R"(empty, {} or {"user": "<username>"})");
    if (!o) return o.error();
    return user_field(*o);
}

json::object brokerage_json(const brokerage_status& b) {
    return {{"authenticated", b.authenticated},
            {"connected", b.connected},
            {"competing", b.competing},
            {"established", b.established}};
}

expected<sim_duration> duration_field(const json::object& o, std::int64_t least) {
    const auto n = json_integer(o.at("duration_ms"));
    if (!n || *n < least || *n > max_maintenance_ms)
        return make_error("field \"duration_ms\" must be milliseconds from " + std::to_string(least) + " to " +
                          std::to_string(max_maintenance_ms));
    return sim_duration(*n);
}

}  // namespace

expected<maintenance_switch> parse_maintenance_switch(std::string_view body) {
    constexpr std::string_view shape = R"({"on": true|false} or {"on": true, "duration_ms": N})";
    auto o = parse_object(body, {"on", "duration_ms"}, false, shape);
    if (!o) return o.error();
    const auto* on = o->if_contains("on");
    if (on == nullptr || !on->is_bool()) return make_error("field \"on\" is required: true or false");
    maintenance_switch m{on->get_bool(), std::nullopt};
    if (o->contains("duration_ms")) {
        if (!m.on) return make_error(R"(field "duration_ms" applies only to {"on": true})");
        auto d = duration_field(*o, 1);
        if (!d) return d.error();
        m.duration = *d;
    }
    return m;
}

expected<sim_duration> parse_nightly_reset(std::string_view body) {
    auto o = parse_object(body, {"duration_ms"}, true, R"({} or {"duration_ms": N} (maintenance after the reset))");
    if (!o) return o.error();
    if (!o->contains("duration_ms")) return sim_duration{};
    return duration_field(*o, 0);
}

expected<await_query> parse_await_query(std::string_view query) {
    auto params = parse_query(query);
    if (!params) return params.error();
    await_query q;
    for (const auto& [name, value] : *params) {
        if (name == "path") {
            q.path = value;
        } else if (name == "count") {
            const auto n = parse_unsigned(value);
            if (!n) return make_error("count must be a non-negative integer");
            q.count = *n;
        } else if (name == "status") {
            const auto n = parse_unsigned(value);
            if (!n || (*n != 0 && (*n < 100 || *n > 599)))
                return make_error("status must be an HTTP status (or 0 for none sent)");
            q.status = static_cast<unsigned>(*n);
        } else if (name == "timeout_ms") {
            const auto n = parse_unsigned(value);
            if (!n || *n > static_cast<std::uint64_t>(max_await_ms))
                return make_error("timeout_ms must be milliseconds from 0 to 600000");
            q.timeout = sim_duration(*n);
        } else {
            return make_error("unknown parameter \"" + name + "\"");
        }
    }
    if (q.path.empty()) return make_error("path is required, e.g. path=/v1/api/tickle");
    return q;
}

http_response control_api::await_response(std::uint64_t count, bool reached) {
    return json_response(reached ? http::status::ok : http::status::request_timeout, json::object{{"count", count}});
}

http_response control_api::bad_request(std::string_view message) {
    return error_response(http::status::bad_request, message);
}

control_api::control_api(ibkr_model& model, fault_injector& faults, request_journal& journal,
                         websocket_registry& websockets, connection_source connections)
    : model_(model),
      faults_(faults),
      journal_(journal),
      websockets_(websockets),
      connections_(std::move(connections)),
      routes_{
          {http::verb::post, "/control/clear-faults", &control_api::clear_faults},
          {http::verb::post, "/control/expire-sessions", &control_api::expire_sessions},
          {http::verb::post, "/control/drop-brokerage", &control_api::drop_brokerage},
          {http::verb::post, "/control/reset-stats", &control_api::reset_stats},
          {http::verb::post, "/control/fault", &control_api::add_fault},
          {http::verb::post, "/control/competing", &control_api::competing},
          {http::verb::post, "/control/maintenance", &control_api::maintenance},
          {http::verb::post, "/control/nightly-reset", &control_api::nightly_reset},
          {http::verb::get, "/control/state", &control_api::state},
          {http::verb::get, "/control/events", &control_api::events},
          {http::verb::get, "/control/issued-tokens", &control_api::issued_tokens},
          {http::verb::get, await_path, &control_api::awaited_elsewhere},
          {http::verb::get, "/control/orders", &control_api::order_bodies},
          {http::verb::get, "/control/ws", &control_api::list_websockets},
          {http::verb::post, "/control/ws/drop", &control_api::drop_websockets},
          {http::verb::get, "/control/overlaps", &control_api::overlaps},
          {http::verb::get, "/control/holders", &control_api::holders},
      } {}

http_response control_api::handle(const http_request& req, wall_time now) {
    const auto m = routes_.find(req.method(), target_path(req.target()));
    if (m.target != nullptr) return (this->*(*m.target))(req, now);
    if (!m.known_path) return error_response(http::status::not_found, "unknown control endpoint");
    http_response res = error_response(http::status::method_not_allowed, "use " + std::string(m.allow));
    res.set(http::field::allow, m.allow);
    return res;
}

http_response control_api::clear_faults(const http_request& /*req*/, wall_time /*now*/) {
    faults_.clear();
    return ok();
}

control_api::user_choice control_api::chosen_user(const std::optional<std::string>& name) const {
    if (name && !model_.find_user(*name)) return bad_request("unknown user \"" + *name + "\"");
    return name;
}

http_response control_api::expire_sessions(const http_request& req, wall_time now) {
    const auto body = parse_user_body(req.body());
    if (!body) return bad_request(body.error().message);
    const auto user = chosen_user(*body);
    if (!user) return user.error();
    model_.expire_sessions(*user);
    close_ended_websockets(now);
    return ok();
}

void control_api::close_ended_websockets(wall_time now) {
    websockets_.close_ended([&](std::string_view bearer) { return model_.sso_bearer_active(bearer, now); });
}

http_response control_api::order_bodies(const http_request& /*req*/, wall_time /*now*/) {
    return json_response(http::status::ok, model_.order_bodies().to_json());
}

http_response control_api::list_websockets(const http_request& /*req*/, wall_time /*now*/) {
    return json_response(http::status::ok, json::object{{"websockets", websockets_.describe()}});
}

http_response control_api::drop_websockets(const http_request& /*req*/, wall_time /*now*/) {
    return ok({{"dropped", websockets_.drop_all()}});
}

http_response control_api::overlaps(const http_request& /*req*/, wall_time /*now*/) {
    return json_response(http::status::ok, model_.overlaps().overlaps_json());
}

http_response control_api::holders(const http_request& /*req*/, wall_time /*now*/) {
    return json_response(http::status::ok, model_.overlaps().holders_json());
}

http_response control_api::drop_brokerage(const http_request& req, wall_time /*now*/) {
    const auto body = parse_user_body(req.body());
    if (!body) return bad_request(body.error().message);
    const auto user = chosen_user(*body);
    if (!user) return user.error();
    model_.drop_brokerage(*user);
    return ok();
}

http_response control_api::reset_stats(const http_request& /*req*/, wall_time /*now*/) {
    model_.reset_counters();
    journal_.reset_counts();
    websockets_.reset_stats();
    return ok();
}

http_response control_api::competing(const http_request& req, wall_time /*now*/) {
    constexpr std::string_view shape = R"({"on": true} or {"on": false}, with "user": "<username>" for one user)";
    const auto body = parse_object(req.body(), {"on", "user"}, false, shape);
    const json::value* on = body ? body->if_contains("on") : nullptr;
    if (on == nullptr || !on->is_bool()) return bad_request("body must be " + std::string(shape));
    const auto name = user_field(*body);
    if (!name) return bad_request(name.error().message);
    const auto user = chosen_user(*name);
    if (!user) return user.error();
    model_.set_competing(on->get_bool(), *user);
    return ok();
}

http_response control_api::maintenance(const http_request& req, wall_time now) {
    const auto m = parse_maintenance_switch(req.body());
    if (!m) return bad_request(m.error().message);
    if (m->duration)
        model_.start_maintenance(now, *m->duration);
    else
        model_.set_maintenance(m->on);
    return ok();
}

http_response control_api::nightly_reset(const http_request& req, wall_time now) {
    const auto maintenance = parse_nightly_reset(req.body());
    if (!maintenance) return bad_request(maintenance.error().message);
    model_.nightly_reset(now, *maintenance);
    close_ended_websockets(now);
    return ok();
}

http_response control_api::state(const http_request& req, wall_time now) {
    auto params = parse_query(target_query(req.target()));
    if (!params) return bad_request(params.error().message);
    std::optional<std::string> name;
    for (const auto& [key, value] : *params) {
        if (key != "user") return bad_request("unknown parameter \"" + key + "\"");
        name = value;
    }
    const auto user = chosen_user(name);
    if (!user) return user.error();
    return json_response(http::status::ok,
                         state_json(now, *user ? model_.find_user(**user) : std::optional<std::size_t>{}));
}

http_response control_api::issued_tokens(const http_request& /*req*/, wall_time /*now*/) {
    json::array tokens;
    for (const auto& t : model_.issued_tokens()) tokens.emplace_back(t);
    return json_response(http::status::ok, json::object{{"tokens", std::move(tokens)}});
}

http_response control_api::awaited_elsewhere(const http_request& /*req*/, wall_time /*now*/) {
    return error_response(http::status::internal_server_error, "GET /control/await is the control server's to answer");
}

http_response control_api::add_fault(const http_request& req, wall_time /*now*/) {
    auto f = parse_fault(req.body());
    if (!f) return bad_request(f.error().message);
    if (!faults_.add(std::move(*f)))
        return bad_request("too many pending faults (" + std::to_string(fault_injector::max_pending) + "); clear them first");
    return ok({{"pending", faults_.pending()}});
}

http_response control_api::events(const http_request& req, wall_time /*now*/) {
    auto params = parse_query(target_query(req.target()));
    if (!params) return bad_request(params.error().message);
    std::uint64_t since = 0;
    for (const auto& [name, value] : *params) {
        if (name != "since") return bad_request("unknown parameter \"" + name + "\"");
        const auto n = parse_unsigned(value);
        if (!n) return bad_request("since must be a sequence number");
        since = *n;
    }
    return json_response(http::status::ok, journal_.events_since(since));
}

json::object control_api::user_json(std::size_t user, wall_time now) const {
    const user_counters& c = model_.counters(user);
    return {{"sso_active", model_.sso_active(user, now)},
            {"brokerage", brokerage_json(model_.brokerage(user, now))},
            {"competing_session", model_.competing(user)},
            {"penalty_box_ends_in_ms", ms_or_null(model_.penalty_box_left(now, model_.user(user).allowed_ip))},
            {"counters", json::object{{"sso_sessions_created", c.sso_sessions_created},
                                      {"validates", c.validates},
                                      {"inits", c.inits},
                                      {"accounts", c.accounts},
                                      {"tickles", c.tickles},
                                      {"logouts", c.logouts},
                                      {"orders_placed", c.orders_placed},
                                      {"websockets_accepted", c.websockets_accepted}}}};
}

json::object control_api::state_json(wall_time now, std::optional<std::size_t> user) const {
    json::object users;
    if (user) {
        users[model_.user(*user).username] = user_json(*user, now);
    } else {
        for (std::size_t u = 0; u < model_.user_count(); ++u) users[model_.user(u).username] = user_json(u, now);
    }
    const model_counters& c = model_.counters();
    const brokerage_status b = model_.brokerage(now);
    const connection_stats connections = connections_ ? connections_() : connection_stats{};
    return {{"calls", journal_.calls_json()},
            {"statuses", journal_.statuses_json()},
            {"tokens_issued", c.tokens_issued},
            {"sso_sessions_created", c.sso_sessions_created},
            {"validates", c.validates},
            {"inits", c.inits},
            {"accounts", c.accounts},
            {"tickles", c.tickles},
            {"logouts", c.logouts},
            {"orders_placed", c.orders_placed},
            {"websockets_accepted", c.websockets_accepted},
            {"history_in_flight", model_.history_in_flight()},
            {"history_max_in_flight", model_.history_max_in_flight()},
            {"websockets", websockets_.stats_json()},
            {"rejections", journal_.rejections_json()},
            {"active_sso_sessions", model_.active_sso_sessions(now)},
            {"brokerage", brokerage_json(b)},
            {"competing_session", model_.competing()},
            {"maintenance", model_.maintenance(now)},
            {"maintenance_ends_in_ms", ms_or_null(model_.maintenance_left(now))},
            {"penalty_box_ends_in_ms", ms_or_null(model_.penalty_box_left(now))},
            {"penalty_box_violations", c.penalty_box_violations},
            {"open_connections", connections.open},
            {"refused_connections", connections.refused},
            {"pending_faults", faults_.pending()},
            {"users", std::move(users)}};
}

}  // namespace sessiond::sim
