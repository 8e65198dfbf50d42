#include "sessiond/api/metrics_view.hpp"

#include "sessiond/gateway/gateway.hpp"
#include "sessiond/metrics/prometheus_text.hpp"
#include "sessiond/server/http_server.hpp"
#include "sessiond/session/session_keeper.hpp"

#include <dirent.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>

namespace sessiond {

namespace {

using type = prometheus_text::type;

double seconds_since_epoch(wall_time t) {
    return static_cast<double>(std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count()) /
           1000.0;
}

constexpr std::array all_states{lifecycle::not_configured, lifecycle::connecting, lifecycle::connected,
                                lifecycle::reconnecting,   lifecycle::competing,  lifecycle::throttled, lifecycle::halted,
                                lifecycle::stopping,       lifecycle::stopped};

void counter(prometheus_text& out, std::string_view name, std::string_view help, const label_set& labels,
             std::uint64_t value) {
    out.family(name, type::counter, help);
    out.sample(labels, static_cast<double>(value));
}

void gauge(prometheus_text& out, std::string_view name, std::string_view help, const label_set& labels, double value) {
    out.family(name, type::gauge, help);
    out.sample(labels, value);
}

// One configured user's series: its account label and what its session reports.
struct user_series {
    label_set account;
    const session_snapshot* snapshot;  // null while the session waits to start
    const session_keeper* running;            // for the request-duration histograms; may be null
    bool up;
    bool configured = true;
};

// A family holding one sample per user (written once, however many users there are).
template <typename Value>
void per_user(prometheus_text& out, std::string_view name, type t, std::string_view help,
              const std::vector<user_series>& users, Value value) {
    out.family(name, t, help);
    for (const auto& u : users) out.sample(u.account, value(u));
}

const session_counters& counters_of(const user_series& u) {
    static const session_counters none{};
    return u.snapshot != nullptr ? u.snapshot->counters : none;
}

lifecycle state_of(const user_series& u) {
    return u.snapshot != nullptr ? u.snapshot->state : u.configured ? lifecycle::connecting : lifecycle::not_configured;
}

void write_sessions(prometheus_text& out, const metrics_input& in) {
    const status_input& st = in.status;
    std::vector<user_series> users;
    users.reserve(st.users.size());
    for (std::size_t i = 0; i < st.users.size(); ++i) {
        users.push_back({{{"account", st.users[i].config->profile.account_id}},
                         st.users[i].snapshot,
                         i < in.running.size() ? in.running[i] : nullptr,
                         is_connected(st.users[i], st.stopping)});
    }
    // Not configured: the configuration's account is down, so that an alert on ibkr_session_up fires
    // (multi-user mode has no configured account: no users is no alarm).
    if (users.empty() && !st.config.values.multi_user)
        users.push_back({{{"account", st.config.values.profile.account_id}}, nullptr, nullptr, false, false});

    // Every session by state, however many: what a dashboard of many users reads.
    std::array<std::size_t, all_states.size()> by_state{};
    for (const auto& u : users)
        for (std::size_t i = 0; i < all_states.size(); ++i)
            if (all_states[i] == state_of(u)) ++by_state[i];
    out.family("ibkr_sessions", type::gauge, "Sessions by lifecycle state, every user's.");
    for (std::size_t i = 0; i < all_states.size(); ++i)
        out.sample({{"state", std::string(to_string(all_states[i]))}}, static_cast<double>(by_state[i]));
    if (users.size() > in.per_user_limit) return;

    per_user(out, "ibkr_session_up", type::gauge, "1 when the brokerage session is authenticated and not competing.",
             users, [](const user_series& u) { return u.up ? 1.0 : 0.0; });
    out.family("ibkr_session_state", type::gauge, "The session's lifecycle state (1 for the current one).");
    for (const auto& u : users) {
        const lifecycle state = state_of(u);
        for (const lifecycle l : all_states) {
            label_set labels = u.account;
            labels.emplace_back("state", to_string(l));
            out.sample(labels, l == state ? 1 : 0);
        }
    }
    const auto count = [](std::uint64_t session_counters::*field) {
        return [field](const user_series& u) { return static_cast<double>(counters_of(u).*field); };
    };
    per_user(out, "ibkr_login_attempts_total", type::counter, "OAuth token requests (each starts a full login).", users,
             count(&session_counters::login_attempts));
    per_user(out, "ibkr_logins_total", type::counter, "SSO sessions obtained.", users, count(&session_counters::logins));
    per_user(out, "ibkr_relogins_total", type::counter, "Full logins because IBKR said the SSO session was gone.", users,
             count(&session_counters::relogins));
    per_user(out, "ibkr_reinits_total", type::counter, "Brokerage re-initialisations without a new login.", users,
             count(&session_counters::reinits));
    per_user(out, "ibkr_takeovers_total", type::counter, "Takeovers of a competing brokerage session.", users,
             count(&session_counters::takeovers));
    per_user(out, "ibkr_reconnects_total", type::counter, "Times a healthy session was lost.", users,
             count(&session_counters::reconnects));
    per_user(out, "ibkr_rebuilds_total", type::counter, "Planned full logins (SSO refresh, maximum age).", users,
             count(&session_counters::rebuilds));
    per_user(out, "ibkr_tickles_total", type::counter, "Tickles IBKR answered with 200.", users,
             count(&session_counters::tickles));
    out.family("ibkr_tickle_failures_total", type::counter, "Failed tickles by reason.");
    for (const auto& u : users) {
        for (const failure f : all_failures) {
            label_set labels = u.account;
            labels.emplace_back("reason", to_string(f));
            out.sample(labels, static_cast<double>(counters_of(u).tickle_failures[static_cast<std::size_t>(f)]));
        }
    }
    per_user(out, "ibkr_consecutive_failures", type::gauge, "Failures since the session was last authenticated.", users,
             [](const user_series& u) { return u.snapshot != nullptr ? static_cast<double>(u.snapshot->consecutive_failures) : 0.0; });
    per_user(out, "ibkr_backoff_seconds", type::gauge, "Seconds until the next retry while recovering; 0 otherwise.", users,
             [&](const user_series& u) {
                 const session_snapshot* s = u.snapshot;
                 if (s == nullptr || !s->waiting || !s->next_call_at || s->consecutive_failures == 0 || *s->next_call_at <= st.now)
                     return 0.0;
                 return static_cast<double>(std::chrono::duration_cast<std::chrono::milliseconds>(*s->next_call_at - st.now).count()) / 1000.0;
             });
    per_user(out, "ibkr_logins_last_hour", type::gauge,
             "Full logins started in the last hour (the login budget allows SESSIOND_LOGINS_PER_HOUR).", users,
             [](const user_series& u) { return u.snapshot != nullptr ? static_cast<double>(u.snapshot->logins_last_hour) : 0.0; });
    per_user(out, "ibkr_rate_limited", type::gauge, "1 while waiting out a 429 from IBKR.", users,
             [](const user_series& u) { return u.snapshot != nullptr && u.snapshot->rate_limited ? 1.0 : 0.0; });
    per_user(out, "ibkr_maintenance_window", type::gauge,
             "1 while failures fall in an IBKR maintenance window (expected, not alarms).", users,
             [](const user_series& u) { return u.snapshot != nullptr && u.snapshot->maintenance ? 1.0 : 0.0; });
    out.family("ibkr_sso_expires_seconds", type::gauge, "Seconds left on the SSO session, as IBKR last reported.");
    for (const auto& u : users) {
        if (u.snapshot == nullptr || !u.snapshot->sso_expires_at) continue;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*u.snapshot->sso_expires_at - st.now);
        out.sample(u.account, static_cast<double>(std::max<long long>(0, left.count())) / 1000.0);
    }
    out.family("ibkr_last_tickle_timestamp_seconds", type::gauge, "When a tickle last found the session healthy.");
    for (const auto& u : users)
        if (u.snapshot != nullptr && u.snapshot->last_tickle_at) out.sample(u.account, seconds_since_epoch(*u.snapshot->last_tickle_at));

    out.family("ibkr_request_duration_seconds", type::histogram, "How long IBKR took to answer, by endpoint.");
    for (const auto& u : users) {
        if (u.running == nullptr) continue;
        for (const step x : all_steps) {
            label_set labels = u.account;
            labels.emplace_back("endpoint", to_string(x));
            out.histogram(labels, u.running->request_durations(x));
        }
    }
}

// What bad clients cost the API server: without these, its refusals and evictions are only in the
// debug log (sessiond_http_requests_total counts what reached the API).
void write_server(prometheus_text& out, const server_stats& s) {
    counter(out, "sessiond_http_connections_accepted_total", "Connections the API server accepted.", {}, s.accepted);
    gauge(out, "sessiond_http_connections_open", "Connections open now.", {}, static_cast<double>(s.open));
    counter(out, "sessiond_http_connections_evicted_total",
            "Open connections closed to make room for a new one (connection cap, or out of descriptors).", {}, s.evicted);
    counter(out, "sessiond_http_connections_refused_total",
            "New connections closed at once: at the cap with every open one responding.", {}, s.refused);
    counter(out, "sessiond_http_accept_failures_total", "Failed accept() calls, running out of descriptors included.", {},
            s.accept_failures);
    out.family("sessiond_http_rejected_requests_total", type::counter,
               "Requests refused before the API saw them: malformed (400), too large (413, 431).");
    out.sample({{"reason", "malformed"}}, static_cast<double>(s.malformed));
    out.sample({{"reason", "too_large"}}, static_cast<double>(s.too_large));
    counter(out, "sessiond_http_timeouts_total",
            "Requests not complete within the request timeout (408), responses not written within the write timeout.",
            {}, s.timed_out);
    counter(out, "sessiond_http_idle_closed_total", "Keep-alive connections closed after the idle timeout.", {},
            s.idle_closed);
    counter(out, "sessiond_http_handler_errors_total", "Requests answered 500 because the API failed on them.", {},
            s.handler_errors);
}

// The gateway: label sets bounded by its fixed endpoint classes and the status codes.
void write_gateway(prometheus_text& out, const gateway_stats& g, std::size_t waiting) {
    out.family("sessiond_gateway_responses_total", type::counter,
               "Gateway answers by endpoint class and status code (IBKR's, or the daemon's own).");
    for (const auto& [key, n] : g.answers)
        out.sample({{"class", std::string(key.first)}, {"code", std::to_string(key.second)}}, static_cast<double>(n));
    counter(out, "sessiond_gateway_forwarded_total", "Client calls sent to IBKR.", {}, g.forwarded);
    out.family("sessiond_gateway_local_responses_total", type::counter,
               "Client calls the daemon answered without sending them: IBKR's limits (429), no connected session (503).");
    out.sample({{"reason", "rate_limited"}}, static_cast<double>(g.local_429));
    out.sample({{"reason", "not_connected"}}, static_cast<double>(g.local_503));
    counter(out, "sessiond_gateway_upstream_failures_total", "Forwarded calls IBKR did not answer (502, 504).", {},
            g.upstream_failures);
    out.family("sessiond_gateway_ibkr_refusals_total", type::counter,
               "Forwarded calls IBKR answered 401 (the session is checked at once) or 429 (every caller waits).");
    out.sample({{"code", "401"}}, static_cast<double>(g.ibkr_401));
    out.sample({{"code", "429"}}, static_cast<double>(g.ibkr_429));
    gauge(out, "sessiond_gateway_waiting", "Client calls waiting now for the session or for IBKR's limits.", {},
          static_cast<double>(waiting));
    out.family("sessiond_gateway_queue_wait_seconds", type::histogram,
               "How long forwarded calls waited for the session and IBKR's limits.");
    out.histogram({}, g.queue_wait);
    out.family("sessiond_gateway_upstream_latency_seconds", type::histogram, "How long IBKR took to answer forwarded calls.");
    out.histogram({}, g.upstream_latency);

    const ws_relay_stats& ws = g.websocket;
    gauge(out, "sessiond_gateway_websockets_open", "Client WebSockets open now.", {}, static_cast<double>(ws.open));
    counter(out, "sessiond_gateway_websockets_opened_total", "Client WebSockets accepted.", {}, ws.opened);
    out.family("sessiond_gateway_websocket_frames_total", type::counter, "Frames relayed, by direction.");
    out.sample({{"direction", "to_clients"}}, static_cast<double>(ws.frames_to_clients));
    out.sample({{"direction", "to_ibkr"}}, static_cast<double>(ws.frames_to_ibkr));
    counter(out, "sessiond_gateway_websocket_upstream_reconnects_total",
            "IBKR's WebSocket reopened after a drop or a new login while clients stayed.", {}, ws.upstream_reconnects);
    out.family("sessiond_gateway_websocket_clients_closed_total", type::counter,
               "Client WebSockets the daemon closed: too slow to read, IBKR's could not be reopened, at the cap.");
    out.sample({{"reason", "too_slow"}}, static_cast<double>(ws.clients_cut_off));
    out.sample({{"reason", "upstream_lost"}}, static_cast<double>(ws.clients_failed));
    out.sample({{"reason", "refused_at_cap"}}, static_cast<double>(ws.refused_full));
}

}  // namespace

process_stats read_process_stats() {
    process_stats p;
    {
        std::ifstream statm("/proc/self/statm");
        long pages = 0;
        long resident = 0;
        if (statm >> pages >> resident) p.resident_bytes = static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
    }
    if (DIR* d = opendir("/proc/self/fd")) {
        double n = 0;
        while (const dirent* e = readdir(d))
            if (e->d_name[0] != '.') ++n;
        closedir(d);
        p.open_fds = n - 1;  // opendir's own descriptor
    }
    {
        std::ifstream stat("/proc/self/stat");
        std::string line;
        if (std::getline(stat, line)) {
            // Fields after the ")" that ends the command name: utime and stime are 14th and 15th overall.
            const auto close = line.rfind(')');
            unsigned long utime = 0;
            unsigned long stime = 0;
            if (close != std::string::npos &&
                std::sscanf(line.c_str() + close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) == 2)
                p.cpu_seconds = static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
        }
    }
    return p;
}

std::string render_metrics(const metrics_input& in) {
    prometheus_text out;
    gauge(out, "sessiond_build_info", "The daemon's version.", {{"version", SESSIOND_VERSION}}, 1);
    gauge(out, "sessiond_start_time_seconds", "When the daemon started (Unix time).", {},
          seconds_since_epoch(in.status.started_at));
    gauge(out, "sessiond_config_problems", "Missing or malformed settings.", {},
          static_cast<double>(in.status.config.problems.size()));
    gauge(out, "sessiond_stopping", "1 after SIGTERM.", {}, in.status.stopping ? 1 : 0);
    write_sessions(out, in);
    out.family("sessiond_http_requests_total", type::counter, "Requests the daemon's API served, by path and code.");
    if (in.served != nullptr) {
        for (const auto& [key, n] : *in.served)
            out.sample({{"path", std::string(key.first)}, {"code", std::to_string(key.second)}}, static_cast<double>(n));
    }
    if (in.server != nullptr) write_server(out, *in.server);
    if (in.gateway != nullptr) write_gateway(out, *in.gateway, in.gateway_waiting);
    counter(out, "sessiond_watchdog_pings_total", "WATCHDOG=1 notifications sent to systemd.", {}, in.watchdog_pings);
    if (in.process.resident_bytes) gauge(out, "process_resident_memory_bytes", "Resident memory size in bytes.", {}, *in.process.resident_bytes);
    if (in.process.open_fds) gauge(out, "process_open_fds", "Open file descriptors.", {}, *in.process.open_fds);
    if (in.process.cpu_seconds) {
        out.family("process_cpu_seconds_total", type::counter, "User and system CPU time in seconds.");
        out.sample({}, *in.process.cpu_seconds);
    }
    return out.take();
}

}  // namespace sessiond
