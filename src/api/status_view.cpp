#include "sessiond/api/status_view.hpp"

#include "sessiond/core/time_format.hpp"

#include <boost/json/array.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace sessiond {

namespace json = boost::json;
using std::chrono::milliseconds;

namespace {

constexpr std::size_t max_status_line = 200;

json::value time_or_null(const std::optional<wall_time>& t) {
    return t ? json::value(iso8601_utc(*t)) : json::value(nullptr);
}

json::value text_or_null(const std::string& s) { return s.empty() ? json::value(nullptr) : json::value(s); }

milliseconds until(wall_time t, wall_time now) {
    return t > now ? std::chrono::duration_cast<milliseconds>(t - now) : milliseconds(0);
}

double seconds_of(milliseconds d) { return static_cast<double>(d.count()) / 1000.0; }

std::string bounded(std::string line) {
    for (char& c : line)
        if (c == '\n' || c == '\r') c = ' ';
    if (line.size() > max_status_line) {
        line.resize(max_status_line - 3);
        line += "...";
    }
    return line;
}

// One user's part of the status: its settings and snapshot, with the daemon's clock and stop flag.
struct user_in {
    const settings& config;
    const session_snapshot* snapshot;
    bool stopping;
    wall_time now;
};

user_in user_at(const status_input& in, std::size_t i) {
    return {*in.users[i].config, in.users[i].snapshot, in.stopping, in.now};
}

// The top level describes the first user, or the configuration's (no session) when none is configured.
user_in primary(const status_input& in) {
    return in.users.empty() ? user_in{in.config.values, nullptr, in.stopping, in.now} : user_at(in, 0);
}

std::string environment_of(const user_in& u) {
    const auto& env = u.config.profile.environment;
    return env ? std::string(to_string(*env)) : std::string();
}

bool user_connected(const user_in& u) { return is_connected({&u.config, u.snapshot}, u.stopping); }

// A configured user whose session object does not exist yet is about to connect.
lifecycle state_of(const user_in& u) { return u.snapshot != nullptr ? u.snapshot->state : lifecycle::connecting; }

json::object brokerage_json(const session_snapshot* s) {
    if (s == nullptr || !s->brokerage_reported) {
        return {{"reported", false}, {"authenticated", false}, {"connected", false},
                {"competing", false}, {"established", false}};
    }
    return {{"reported", true},
            {"authenticated", s->brokerage.authenticated},
            {"connected", s->brokerage.connected},
            {"competing", s->brokerage.competing},
            {"established", s->brokerage.established ? json::value(*s->brokerage.established) : json::value(nullptr)}};
}

// The IBKR maintenance window the session is riding out, or the one the clock is in; null outside.
json::value maintenance_json(const user_in& in) {
    const auto& calendar = in.config.options.calendar;
    if (!calendar) return nullptr;
    std::optional<maintenance_window> w =
        in.snapshot != nullptr && in.snapshot->maintenance ? in.snapshot->maintenance : calendar->window_at(in.now);
    if (!w) return nullptr;
    return json::object{{"kind", to_string(w->kind)},
                        {"start", iso8601_utc(w->start)},
                        {"end", iso8601_utc(w->end)},
                        {"description", calendar->describe(*w)},
                        {"expected_failures", in.snapshot != nullptr && in.snapshot->maintenance.has_value()}};
}

std::string not_configured_line(const config_report& config) {
    if (config.problems.empty()) return "not configured";
    const auto& p = config.problems.front();
    std::string line = "not configured: " + p.variable + " " + p.message;
    if (config.problems.size() > 1) line += fmt::format(" (+{} more)", config.problems.size() - 1);
    return bounded(std::move(line));
}

std::string user_line(const user_in& in) {
    if (in.stopping && (in.snapshot == nullptr || in.snapshot->state != lifecycle::stopped)) return "stopping: logging out";
    if (in.snapshot == nullptr) return "connecting: waiting for the previous session of this IBKR username to log out";
    const session_snapshot& s = *in.snapshot;
    const std::string env = environment_of(in);
    switch (s.state) {
        case lifecycle::connected: {
            std::string line = "connected as " + in.config.profile.account_id + (env.empty() ? "" : " (" + env + ")");
            if (s.sso_expires_at) line += "; SSO " + human_duration(until(*s.sso_expires_at, in.now)) + " left";
            return bounded(std::move(line));
        }
        case lifecycle::halted: return bounded("halted: " + s.halt_reason);
        case lifecycle::competing: return bounded("competing: another session holds this IBKR username");
        case lifecycle::stopping: return "stopping: logging out";
        case lifecycle::stopped: return "stopped";
        case lifecycle::throttled: {
            const auto& o = in.config.options;
            if (s.throttled_by_login_rate) {
                std::string line = fmt::format("throttled: waiting for a slot of the daemon-wide login rate (one login "
                                               "every {} s, all users together)", format_seconds(o.daemon_login_interval.count()));
                if (s.throttled_until) line += "; login in " + human_duration(until(*s.throttled_until, in.now));
                return bounded(std::move(line));
            }
            std::string line = fmt::format("throttled: {} login(s) in the last hour (at most {}, {} apart)",
                                           s.logins_last_hour, o.logins_per_hour,
                                           human_duration(std::chrono::duration_cast<std::chrono::milliseconds>(o.login_min_interval)));
            if (s.throttled_until) line += "; next login in " + human_duration(until(*s.throttled_until, in.now));
            if (!s.reason.empty()) line += ": " + s.reason;
            return bounded(std::move(line));
        }
        default: break;
    }
    // connecting / reconnecting
    std::string line(to_string(s.state));
    if (s.rate_limited) {
        line = "rate limited by IBKR (429): no calls";
        if (s.next_call_at) line += " until " + iso8601_utc(*s.next_call_at) + " (" + human_duration(until(*s.next_call_at, in.now)) + ")";
        if (!s.reason.empty()) line += ": " + s.reason;
        return bounded(std::move(line));
    }
    if (s.maintenance && in.config.options.calendar)
        line = in.config.options.calendar->describe(*s.maintenance) + "; " + line;
    if (s.waiting && s.next_call_at)
        line += " in " + human_duration(until(*s.next_call_at, in.now));
    else
        line += ": " + std::string(to_string(s.current_step));
    if (s.consecutive_failures > 0) line += fmt::format(" (attempt {})", s.consecutive_failures + 1);
    if (!s.reason.empty()) line += ": " + s.reason;
    return bounded(std::move(line));
}

// Everything the status says of one user.
json::object user_json(const user_in& in) {
    const settings& v = in.config;
    const session_snapshot* s = in.snapshot;
    json::object out;
    out["status"] = user_connected(in) ? "connected" : "configured_not_connected";
    out["message"] = user_line(in);
    out["state"] = to_string(state_of(in));
    out["environment"] = text_or_null(environment_of(in));
    out["base_url"] = v.options.endpoint.text;
    out["account_id"] = text_or_null(v.profile.account_id);
    out["step"] = s != nullptr ? json::value(to_string(s->current_step)) : json::value(nullptr);
    out["waiting"] = s != nullptr && s->waiting;
    out["brokerage"] = brokerage_json(s);
    out["login_type"] = s != nullptr && s->login_type ? json::value(to_string(*s->login_type)) : json::value(nullptr);
    out["environment_confirmed_by"] = s != nullptr && s->environment_checked_by != environment_check::none
                                          ? json::value(to_string(s->environment_checked_by))
                                          : json::value(nullptr);
    out["validate_deferred_until"] = s != nullptr ? time_or_null(s->validate_deferred_until) : json::value(nullptr);

    if (s != nullptr && s->sso_expires_at) {
        out["sso_expires_at"] = iso8601_utc(*s->sso_expires_at);
        out["sso_expires_in_seconds"] = seconds_of(until(*s->sso_expires_at, in.now));
    } else {
        out["sso_expires_at"] = nullptr;
        out["sso_expires_in_seconds"] = nullptr;
    }
    if (s != nullptr && (!s->brokerage.server_name.empty() || !s->brokerage.server_version.empty()))
        out["server"] = json::object{{"name", s->brokerage.server_name}, {"version", s->brokerage.server_version}};
    else
        out["server"] = nullptr;

    out["logged_in_at"] = s != nullptr ? time_or_null(s->logged_in_at) : json::value(nullptr);
    out["connected_since"] = s != nullptr ? time_or_null(s->connected_since) : json::value(nullptr);
    out["last_tickle_at"] = s != nullptr ? time_or_null(s->last_tickle_at) : json::value(nullptr);
    if (s != nullptr && s->last_error) {
        const session_error& e = *s->last_error;
        out["last_error"] = json::object{{"step", to_string(e.at)},
                                         {"kind", to_string(e.kind)},
                                         {"http_status", e.http_status != 0 ? json::value(e.http_status) : json::value(nullptr)},
                                         {"message", e.message},
                                         {"at", iso8601_utc(e.when)}};
    } else {
        out["last_error"] = nullptr;
    }
    out["consecutive_failures"] = s != nullptr ? s->consecutive_failures : 0;
    out["next_call_at"] = s != nullptr ? time_or_null(s->next_call_at) : json::value(nullptr);
    // A retry is what the daemon waits for when it is not connected.
    const bool retrying = s != nullptr && s->next_call_at && s->state != lifecycle::connected &&
                          s->state != lifecycle::halted && (s->consecutive_failures > 0 || s->rate_limited);
    out["next_retry_at"] = retrying ? json::value(iso8601_utc(*s->next_call_at)) : json::value(nullptr);
    out["next_retry_in_seconds"] = retrying ? json::value(seconds_of(until(*s->next_call_at, in.now))) : json::value(nullptr);
    out["rate_limited"] = s != nullptr && s->rate_limited;
    out["rate_limited_until"] = s != nullptr && s->rate_limited ? time_or_null(s->next_call_at) : json::value(nullptr);
    out["maintenance_window"] = maintenance_json(in);
    out["throttled_until"] = s != nullptr ? time_or_null(s->throttled_until) : json::value(nullptr);
    out["login_budget"] = json::object{
        {"logins_last_hour", s != nullptr ? s->logins_last_hour : 0},
        {"per_hour", v.options.logins_per_hour},
        {"min_interval_seconds", v.options.login_min_interval.count()},
        {"persisted", v.service.state_dir.has_value()},
        // The directory (the record in it is named after a hash of the username), or why there is none.
        {"state_directory", v.service.state_dir ? json::value(v.service.state_dir->string()) : json::value(nullptr)},
        {"state_directory_rule", v.service.state_dir ? json::value(v.service.state_dir_rule) : json::value(nullptr)},
        {"in_memory_because", v.service.state_dir || v.service.state_dir_unavailable.empty()
                                  ? json::value(nullptr)
                                  : json::value(v.service.state_dir_unavailable)}};
    out["reason"] = s != nullptr ? text_or_null(s->reason) : json::value(nullptr);
    out["halt_reason"] = s != nullptr ? text_or_null(s->halt_reason) : json::value(nullptr);

    if (s != nullptr) {
        const session_counters& c = s->counters;
        out["counters"] = json::object{{"login_attempts", c.login_attempts}, {"logins", c.logins},
                                       {"relogins", c.relogins},             {"reinits", c.reinits},
                                       {"takeovers", c.takeovers},           {"reconnects", c.reconnects},
                                       {"rebuilds", c.rebuilds},             {"tickles", c.tickles}};
    } else {
        out["counters"] = nullptr;
    }
    return out;
}

}  // namespace

bool is_connected(const user_status& user, bool stopping) noexcept {
    return user.snapshot != nullptr && user.snapshot->state == lifecycle::connected && !stopping;
}

namespace {

// Multi-user mode, the admin's view (status_input::store_reachable).
bool multi_user_view(const status_input& in) noexcept { return in.store_reachable.has_value(); }

// At most this many of the users not connected are named in the admin's status.
constexpr std::size_t not_connected_listed = 100;

std::string multi_user_line(const status_input& in) {
    if (in.stopping) return "stopping: logging out";
    if (in.users.empty()) return "multi-user mode: no user has IBKR credentials yet";
    std::size_t connected = 0;
    std::optional<std::size_t> first_down;
    for (std::size_t i = 0; i < in.users.size(); ++i) {
        if (user_connected(user_at(in, i))) ++connected;
        else if (!first_down) first_down = i;
    }
    std::string line = fmt::format("{} of {} users connected", connected, in.users.size());
    if (first_down) line += "; " + std::string(in.users[*first_down].user_id) + ": " + user_line(user_at(in, *first_down));
    return bounded(std::move(line));
}

json::object multi_user_json(const status_input& in) {
    std::map<std::string_view, std::size_t> by_state;
    json::array not_connected;
    std::size_t unlisted = 0;
    for (std::size_t i = 0; i < in.users.size(); ++i) {
        const user_in u = user_at(in, i);
        const lifecycle state = u.snapshot != nullptr ? u.snapshot->state : lifecycle::connecting;
        ++by_state[to_string(state)];
        if (user_connected(u)) continue;
        if (not_connected.size() == not_connected_listed) {
            ++unlisted;
            continue;
        }
        not_connected.push_back(json::object{{"user", in.users[i].user_id},
                                             {"account_id", u.config.profile.account_id},
                                             {"state", to_string(state)},
                                             {"message", user_line(u)}});
    }
    json::object states;
    for (const auto& [name, n] : by_state) states[name] = n;
    return json::object{{"users", in.users.size()},
                        {"by_state", std::move(states)},
                        {"not_connected", std::move(not_connected)},
                        {"not_connected_unlisted", unlisted},
                        {"database", *in.store_reachable ? "reachable" : "unreachable"}};
}

// The guide's client id: its first characters, never the whole id.
json::value masked_client_id(const std::string& id) {
    if (id.empty()) return nullptr;
    return json::value(id.substr(0, std::min<std::size_t>(3, id.size() / 2)) + "***");
}

// The guide's diagnostics: each login step's last HTTP status (0: none), message and success. Its
// init is the daemon's init and accounts together (guide_step_of): a failed accounts call after
// init is init's.
json::object diagnostics_json(const session_snapshot* s, bool development) {
    json::object out;
    for (const step which : guide_steps) {
        const step_record* r = nullptr;
        step from = which;
        for (const step candidate : all_steps) {
            if (s == nullptr || guide_step_of(candidate) != which) continue;
            const auto& c = s->last_outcomes[static_cast<std::size_t>(candidate)];
            if (c && (r == nullptr || (!c->ok && c->when >= r->when))) {
                r = &*c;
                from = candidate;
            }
        }
        if (r == nullptr) {
            out[to_string(which)] = json::object{{"status", 0}, {"success", false}, {"message", "not run yet"}, {"at", nullptr}};
            continue;
        }
        const std::string message = r->ok ? "ok" : development ? r->message : public_failure(from, r->kind, r->http_status);
        out[to_string(which)] = json::object{
            {"status", r->http_status}, {"success", r->ok}, {"message", message}, {"at", iso8601_utc(r->when)}};
    }
    return out;
}

// The fields the guide's own application reads, beside the daemon's.
void add_guide_fields(json::object& out, const status_input& in) {
    // The admin's view of multi-user mode is no one user's: no account, client id or steps.
    const bool admin_view = multi_user_view(in);
    const user_in first = primary(in);
    const std::string_view overall = overall_status(in);
    out["configured"] = overall != "not_configured";
    out["connected"] = overall == "connected";
    if (!out.contains("environment")) out["environment"] = nullptr;
    out["accountId"] = admin_view ? json::value(nullptr) : text_or_null(first.config.profile.account_id);
    out["clientId"] = admin_view ? json::value(nullptr) : masked_client_id(first.config.profile.client_id);
    out["multiUserMode"] = in.config.values.multi_user;
    out["mode"] = in.config.values.service.development ? "development" : "production";
    out["diagnostics"] = diagnostics_json(admin_view ? nullptr : first.snapshot, in.config.values.service.development);
}

}  // namespace

std::string_view overall_status(const status_input& in) noexcept {
    if (in.users.empty()) return multi_user_view(in) ? "configured_not_connected" : "not_configured";
    for (std::size_t i = 0; i < in.users.size(); ++i)
        if (!user_connected(user_at(in, i))) return "configured_not_connected";
    return "connected";
}

std::string status_line(const status_input& in) {
    if (multi_user_view(in)) return multi_user_line(in);
    if (in.users.empty()) return in.stopping ? "stopping: logging out" : not_configured_line(in.config);
    if (in.users.size() == 1) return user_line(user_at(in, 0));
    std::size_t connected = 0;
    std::optional<std::size_t> first_down;
    for (std::size_t i = 0; i < in.users.size(); ++i) {
        if (user_connected(user_at(in, i)))
            ++connected;
        else if (!first_down)
            first_down = i;
    }
    std::string line = fmt::format("{} of {} users connected", connected, in.users.size());
    if (first_down) line += "; " + in.users[*first_down].config->profile.account_id + ": " + user_line(user_at(in, *first_down));
    return bounded(std::move(line));
}

status_input single_user_status(const config_report& config, const session_snapshot* snapshot, bool stopping,
                                wall_time started_at, wall_time now) {
    status_input in{config, {}, stopping, started_at, now, nullptr};
    if (snapshot != nullptr) in.users.push_back({&config.values, snapshot});
    return in;
}

json::object status_json(const status_input& in) {
    json::object out;
    if (multi_user_view(in)) {
        out["status"] = overall_status(in);
        out["message"] = status_line(in);
        out["multi_user"] = multi_user_json(in);
    } else {
        // Single-user clients read the first user's fields at the top level.
        out = user_json(primary(in));
        out["status"] = overall_status(in);
        out["message"] = status_line(in);
        if (in.users.empty()) {
            out["state"] = to_string(lifecycle::not_configured);
            out["step"] = nullptr;
        }
        json::array users;
        for (std::size_t i = 0; i < in.users.size(); ++i) users.push_back(user_json(user_at(in, i)));
        out["users"] = std::move(users);
    }
    json::array problems;
    for (const auto& p : in.config.problems) problems.push_back(json::object{{"variable", p.variable}, {"message", p.message}});
    out["problems"] = std::move(problems);
    json::array warnings;
    for (const auto& w : in.config.warnings) warnings.emplace_back(w);
    out["warnings"] = std::move(warnings);

    out["daemon"] = json::object{{"version", SESSIOND_VERSION},
                                 {"started_at", iso8601_utc(in.started_at)},
                                 {"uptime_seconds", seconds_of(until(in.now, in.started_at))},
                                 {"stopping", in.stopping}};
    out["gateway"] = in.gateway;
    add_guide_fields(out, in);
    return out;
}

std::vector<readiness_check> readiness_checks(const status_input& in) {
    std::vector<readiness_check> checks;
    if (in.store_reachable) {
        checks.push_back({"not-stopping", !in.stopping, in.stopping ? "SIGTERM received" : ""});
        checks.push_back({"database", *in.store_reachable,
                          *in.store_reachable ? "" : "the database did not answer (see the log)"});
        return checks;
    }
    const bool configured = !in.users.empty();
    checks.push_back({"configured", configured, configured ? "" : status_line(in)});
    checks.push_back({"not-stopping", !in.stopping, in.stopping ? "SIGTERM received" : ""});
    // Every user's session must be usable; the detail names the first that is not.
    std::string unauthenticated;
    std::string competing;
    for (std::size_t i = 0; i < in.users.size(); ++i) {
        const user_in u = user_at(in, i);
        const std::string who = in.users.size() > 1 ? u.config.profile.account_id + ": " : std::string();
        if (unauthenticated.empty() && (u.snapshot == nullptr || u.snapshot->state != lifecycle::connected))
            unauthenticated = bounded(who + user_line(u));
        if (competing.empty() && u.snapshot != nullptr && u.snapshot->brokerage.competing)
            competing = who + "another session holds this IBKR username";
    }
    if (!configured) unauthenticated = status_line(in);
    checks.push_back({"session-authenticated", unauthenticated.empty(), unauthenticated});
    checks.push_back({"not-competing", competing.empty(), competing});
    return checks;
}

bool is_ready(const std::vector<readiness_check>& checks) noexcept {
    for (const auto& c : checks)
        if (!c.ok) return false;
    return !checks.empty();
}

}  // namespace sessiond
