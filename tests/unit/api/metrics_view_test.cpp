// /metrics in each state: what the daemon writes must parse as strict Prometheus text, and carry
// the numbers the session's snapshot holds.

#include "sessiond/api/metrics_view.hpp"
#include "sessiond/server/http_server.hpp"

#include "support/prometheus_parser.hpp"
#include "unit/session/machine_harness.hpp"

namespace sessiond {
namespace {

using namespace sessiond::testing;

class metrics_view_test : public machine_test {
protected:
    metrics_view_test() {
        config.values.profile.account_id = "DU1234567";
        config.values.profile.environment = ibkr_environment::paper;
    }

    exposition scrape(const session_snapshot* s) {
        const status_input st = single_user_status(config, s, false, now - std::chrono::seconds(60), now);
        served_counts served{{{"/livez", 200}, 7}, {{"other", 404}, 1}};
        const metrics_input in{st, {}, &served, process_stats{1e6, 12, 0.5}, 3, &server};
        text = render_metrics(in);
        auto parsed = parse_prometheus_text(text);
        EXPECT_TRUE(parsed) << (parsed ? "" : parsed.error().message) << "\n" << text;
        return parsed ? *parsed : exposition{};
    }

    config_report config;
    server_stats server;
    std::string text;
    const label_map account{{"account", "DU1234567"}};
};

TEST_F(metrics_view_test, connected_session_is_up_with_its_counters) {
    connect();
    feed(tickled());
    const auto m = scrape(&snap());
    EXPECT_EQ(m.value_of("ibkr_session_up", account), 1.0);
    EXPECT_EQ(m.value_of("ibkr_session_state", {{"account", "DU1234567"}, {"state", "connected"}}), 1.0);
    EXPECT_EQ(m.value_of("ibkr_session_state", {{"account", "DU1234567"}, {"state", "reconnecting"}}), 0.0);
    EXPECT_EQ(m.value_of("ibkr_logins_total", account), 1.0);
    EXPECT_EQ(m.value_of("ibkr_tickles_total", account), 2.0);
    EXPECT_EQ(m.value_of("ibkr_sso_expires_seconds", account), 500.0);
    EXPECT_EQ(m.value_of("ibkr_backoff_seconds", account), 0.0);
    EXPECT_EQ(m.value_of("sessiond_build_info", {{"version", SESSIOND_VERSION}}), 1.0);
    EXPECT_EQ(m.value_of("sessiond_http_requests_total", {{"path", "/livez"}, {"code", "200"}}), 7.0);
    EXPECT_EQ(m.value_of("sessiond_watchdog_pings_total"), 3.0);
    EXPECT_EQ(m.value_of("process_open_fds"), 12.0);
}

TEST_F(metrics_view_test, recovering_session_shows_backoff_and_failures_by_reason) {
    connect();
    feed(failed(step::tickle, failure::server_error, 503));
    feed(failed(step::tickle, failure::timeout));
    const auto m = scrape(&snap());
    EXPECT_EQ(m.value_of("ibkr_session_up", account), 0.0);
    EXPECT_EQ(m.value_of("ibkr_tickle_failures_total", {{"account", "DU1234567"}, {"reason", "server_error"}}), 1.0);
    EXPECT_EQ(m.value_of("ibkr_tickle_failures_total", {{"account", "DU1234567"}, {"reason", "timeout"}}), 1.0);
    EXPECT_EQ(m.value_of("ibkr_consecutive_failures", account), 2.0);
    EXPECT_EQ(m.value_of("ibkr_backoff_seconds", account), 4.0);
    EXPECT_EQ(m.value_of("ibkr_reconnects_total", account), 1.0);
}

TEST_F(metrics_view_test, above_the_per_user_limit_only_the_sessions_by_state_are_written) {
    connect();
    feed(tickled());
    std::vector<settings> users(3, config.values);
    users[0].profile.account_id = "DU0000001";
    users[1].profile.account_id = "DU0000002";
    users[2].profile.account_id = "DU0000003";
    const status_input st{config, {{&users[0], &snap()}, {&users[1], nullptr}, {&users[2], nullptr}}, false,
                          now - std::chrono::seconds(60), now};
    for (const std::size_t limit : {2u, 3u}) {
        const metrics_input in{st, {}, nullptr, process_stats{1e6, 12, 0.5}, 0, &server, nullptr, 0, limit};
        const auto parsed = parse_prometheus_text(render_metrics(in));
        ASSERT_TRUE(parsed) << parsed.error().message;
        EXPECT_EQ(parsed->value_of("ibkr_sessions", {{"state", "connected"}}), 1.0);
        EXPECT_EQ(parsed->value_of("ibkr_sessions", {{"state", "connecting"}}), 2.0);
        EXPECT_EQ(parsed->value_of("ibkr_sessions", {{"state", "reconnecting"}}), 0.0);
        const auto up = parsed->value_of("ibkr_session_up", {{"account", "DU0000001"}});
        if (limit == 2) EXPECT_EQ(up, std::nullopt) << "3 users are above a limit of 2: no per-user series";
        else EXPECT_EQ(up, 1.0);
    }
}

TEST_F(metrics_view_test, not_configured_still_parses_and_counts_the_problems) {
    config.problems = {{"IBKR_CLIENT_ID", "missing", false}};
    const auto m = scrape(nullptr);
    EXPECT_EQ(m.value_of("sessiond_config_problems"), 1.0);
    EXPECT_EQ(m.value_of("ibkr_session_up", account), 0.0);
    EXPECT_EQ(m.value_of("ibkr_session_state", {{"account", "DU1234567"}, {"state", "not_configured"}}), 1.0);
}

TEST_F(metrics_view_test, the_api_servers_connections_and_refusals_are_counted) {
    server = server_stats{.accepted = 10'000, .open = 512, .evicted = 9'488, .refused = 2, .accept_failures = 3,
                          .timed_out = 511, .idle_closed = 4, .malformed = 32, .too_large = 64, .handler_errors = 1};
    const auto m = scrape(nullptr);
    EXPECT_EQ(m.value_of("sessiond_http_connections_accepted_total"), 10'000.0);
    EXPECT_EQ(m.value_of("sessiond_http_connections_open"), 512.0);
    EXPECT_EQ(m.value_of("sessiond_http_connections_evicted_total"), 9'488.0);
    EXPECT_EQ(m.value_of("sessiond_http_connections_refused_total"), 2.0);
    EXPECT_EQ(m.value_of("sessiond_http_accept_failures_total"), 3.0);
    EXPECT_EQ(m.value_of("sessiond_http_rejected_requests_total", {{"reason", "malformed"}}), 32.0);
    EXPECT_EQ(m.value_of("sessiond_http_rejected_requests_total", {{"reason", "too_large"}}), 64.0);
    EXPECT_EQ(m.value_of("sessiond_http_timeouts_total"), 511.0);
    EXPECT_EQ(m.value_of("sessiond_http_idle_closed_total"), 4.0);
    EXPECT_EQ(m.value_of("sessiond_http_handler_errors_total"), 1.0);
}

TEST_F(metrics_view_test, reads_process_figures_from_proc) {
    const auto p = read_process_stats();
    ASSERT_TRUE(p.resident_bytes);
    EXPECT_GT(*p.resident_bytes, 0.0);
    ASSERT_TRUE(p.open_fds);
    EXPECT_GE(*p.open_fds, 3.0);
    EXPECT_TRUE(p.cpu_seconds);
}

}  // namespace
}  // namespace sessiond
