// The fault matrix: one fault per test against ibkr-sim, each asserting that the daemon is
// authenticated again within a bound derived from its settings, and that it never made more logins
// than its login budget allows, nor called IBKR while a 429 told it to wait.
//
// Each test prints "[fault-matrix] <fault>: connected again after N ms" (measured from the moment
// the fault ended, or was injected when it ends by itself), which the reliability note reports.

#include "integration/daemon_fixture.hpp"

#include "sessiond/core/time_zone.hpp"
#include "sessiond/ibkr/ibkr_calendar.hpp"

#include <boost/json.hpp>

#include <fmt/format.h>

#include <functional>

namespace sessiond::testing {
namespace {

using std::chrono::milliseconds;
using clock_type = std::chrono::steady_clock;

// The daemon's settings in this suite (daemon_environment() plus a real login budget and a short
// 429 penalty); every bound below is derived from them.
constexpr milliseconds tickle_interval{1'000};
constexpr milliseconds http_timeout{2'000};
constexpr milliseconds backoff_max{1'000};
constexpr milliseconds login_spacing{2'000};
constexpr int logins_per_hour = 20;
constexpr milliseconds penalty{2'000};
// Scheduling slack on a loaded 2-core machine under the sanitizers; not a performance target.
constexpr milliseconds slack{5'000};

daemon_options matrix_options() {
    daemon_options o;
    o.environment["SESSIOND_LOGIN_MIN_INTERVAL"] = std::to_string(login_spacing.count() / 1000);
    o.environment["SESSIOND_LOGINS_PER_HOUR"] = std::to_string(logins_per_hour);
    o.environment["SESSIOND_RATE_LIMIT_PENALTY"] = std::to_string(penalty.count() / 1000);
    return o;
}

struct sim_event {
    std::int64_t t_ms;
    std::string path;
    unsigned status;
};

class fault_matrix : public daemon_fixture {
protected:
    daemon_process& start(daemon_options o = matrix_options()) {
        auto& d = connected_daemon(std::move(o));
        daemon_ = &d;
        return d;
    }

    // The bound on recovery for a fault that makes `failures` calls fail: each failure costs at most
    // its deadline and a backoff (or, for a login, the login spacing), then a tickle finds the session.
    static milliseconds bound(int failures, milliseconds fault_lasts = milliseconds(0)) {
        return fault_lasts + failures * (http_timeout + std::max(backoff_max, login_spacing)) + 2 * tickle_interval + slack;
    }

    // Waits for the next "session connected" within the bound and reports how long it took from `since`.
    void expect_connected_again(milliseconds within, clock_type::time_point since, std::string_view fault) {
        ASSERT_NE(daemon_, nullptr);
        const std::size_t connected = connections_seen_ + 1;
        const bool again = daemon_->wait_for_log("session connected", connected, within);
        const auto took = std::chrono::duration_cast<milliseconds>(clock_type::now() - since);
        ASSERT_TRUE(again) << fault << ": not connected again within " << within.count() << " ms\n" << daemon_->output();
        connections_seen_ = connected;
        std::printf("[fault-matrix] %s: connected again after %lld ms (bound %lld ms)\n", std::string(fault).c_str(),
                    static_cast<long long>(took.count()), static_cast<long long>(within.count()));
        std::fflush(stdout);
    }

    std::vector<sim_event> timeline() {
        std::vector<sim_event> out;
        const auto body = sim().events(0);
        for (const auto& e : body.at("events").as_array()) {
            const auto& o = e.as_object();
            out.push_back({o.at("t_ms").to_number<std::int64_t>(), std::string(o.at("path").as_string()),
                           static_cast<unsigned>(o.at("status").to_number<std::int64_t>())});
        }
        return out;
    }

    // Logins (token requests) never closer than the spacing (less the time a new TLS handshake can
    // add to one of them before the simulator sees it), never more than the hourly cap.
    void expect_login_budget_kept() {
        std::vector<std::int64_t> logins;
        for (const auto& e : timeline())
            if (e.path == token_path) logins.push_back(e.t_ms);
        EXPECT_LE(logins.size(), static_cast<std::size_t>(logins_per_hour));
        constexpr std::int64_t handshake_allowance = 500;
        for (std::size_t i = 1; i < logins.size(); ++i)
            EXPECT_GE(logins[i] - logins[i - 1], login_spacing.count() - handshake_allowance)
                << "logins " << i - 1 << " and " << i << " at " << logins[i - 1] << " and " << logins[i] << " ms";
    }

    // After each 429 the simulator sent, nothing arrived for `wait`.
    void expect_quiet_after_each_429(milliseconds wait) {
        const auto events = timeline();
        std::size_t seen = 0;
        for (std::size_t i = 0; i < events.size(); ++i) {
            if (events[i].status != 429) continue;
            ++seen;
            if (i + 1 < events.size()) {
                EXPECT_GE(events[i + 1].t_ms - events[i].t_ms, wait.count())
                    << events[i + 1].path << " came " << events[i + 1].t_ms - events[i].t_ms << " ms after a 429 on "
                    << events[i].path;
            }
        }
        EXPECT_GE(seen, 1u) << "no 429 was sent";
    }

    std::uint64_t logins() { return sim_count("tokens_issued"); }

    // Requests to path that the simulator answered with status.
    std::uint64_t answered_with(std::string_view path, unsigned status) {
        const auto state = sim().state();
        const auto* n = state.at("statuses").as_object().if_contains(fmt::format("{} {}", path, status));
        return n != nullptr ? static_cast<std::uint64_t>(n->to_number<std::int64_t>()) : 0;
    }

    // A fault on a login step only meets a login: end the SSO session so that one happens now.
    void fault_on_login_step(std::string_view path, std::string_view action_json) {
        fault(fmt::format(R"({{"path":"{}",{}}})", path, action_json));
        sim().expire_sessions();
    }

    // A fault on init or accounts only meets a re-initialisation: drop the brokerage session.
    void fault_on_init_step(std::string_view path, std::string_view action_json) {
        fault(fmt::format(R"({{"path":"{}",{}}})", path, action_json));
        sim().drop_brokerage();
    }

    daemon_process* daemon_ = nullptr;
    std::size_t connections_seen_ = 1;
};

// ---- HTTP statuses on each endpoint ------------------------------------------------------------------

struct status_case {
    std::string_view path;
    unsigned status;
};

void PrintTo(const status_case& c, std::ostream* os) { *os << c.status << " on " << c.path; }

std::string case_name(const ::testing::TestParamInfo<status_case>& info) {
    std::string path(info.param.path);
    for (char& c : path)
        if (c == '/' || c == '-') c = '_';
    return fmt::format("{}_on{}", info.param.status, path);
}

class status_fault : public fault_matrix, public ::testing::WithParamInterface<status_case> {};

TEST_P(status_fault, the_daemon_is_authenticated_again_within_its_bound_and_its_budget) {
    const auto [path, status] = GetParam();
    start();
    const auto logins_before = logins();
    const auto t0 = clock_type::now();
    const std::string action = fmt::format(R"("action":"status","status":{},"count":2)", status);
    if (path == token_path || path == sso_path || path == validate_path)
        fault_on_login_step(path, action);
    else if (path == init_path || path == accounts_path)
        fault_on_init_step(path, action);
    else
        fault(fmt::format(R"({{"path":"{}",{}}})", path, action));
    // Two failures, each at most a deadline and a backoff (or a 429 penalty) before the retry.
    const milliseconds fault_lasts = status == 429 ? 2 * penalty : milliseconds(0);
    expect_connected_again(bound(3, fault_lasts), t0, fmt::format("{} on {}", status, path));
    expect_login_budget_kept();
    if (status == 429) expect_quiet_after_each_429(penalty);
    // A tickle that fails with a server error or a 429 keeps the SSO session: no new login.
    if (path == tickle_path && (status >= 500 || status == 429)) {
        EXPECT_EQ(logins(), logins_before);
    }
    EXPECT_GE(answered_with(path, status), 2u) << "the fault was met";
}

INSTANTIATE_TEST_SUITE_P(
    every_endpoint, status_fault,
    ::testing::ValuesIn([] {
        std::vector<status_case> cases;
        for (const auto path : {token_path, sso_path, validate_path, init_path, accounts_path, tickle_path})
            for (const unsigned status : {401u, 403u, 500u, 503u, 429u}) cases.push_back({path, status});
        return cases;
    }()),
    case_name);

// ---- everything else that goes wrong ------------------------------------------------------------------

TEST_F(fault_matrix, retry_after_is_honoured) {
    start();
    const auto t0 = clock_type::now();
    fault(R"({"path":"/v1/api/tickle","action":"status","status":429,"retry_after":3})");
    expect_connected_again(bound(1, std::chrono::seconds(3)), t0, "429 with Retry-After: 3");
    expect_quiet_after_each_429(std::chrono::seconds(3));
    EXPECT_GE(daemon_->count_in_log("429"), 1u);
}

TEST_F(fault_matrix, a_429_from_ibkrs_own_limiter_is_waited_out_without_a_call_in_its_penalty_box) {
    // A daemon paced looser than IBKR (IBKR_PACE_VALIDATE=1 against a 5 s validate limit) meets
    // IBKR's limiter, and its penalty box (3 s here, 10-15 min at IBKR); the daemon's own penalty
    // (4 s here, 15 min by default) outlasts it.
    expect_no_self_inflicted_429_ = false;
    sim_options so = fast_sim();
    so.validate_min_interval = 5;
    so.penalty_box = 3;
    start_sim(so);
    daemon_options o = matrix_options();
    o.environment["IBKR_PACE_VALIDATE"] = "1";
    o.environment["SESSIOND_RATE_LIMIT_PENALTY"] = "4";
    o.environment["SESSIOND_LOGIN_MIN_INTERVAL"] = "0";
    auto& d = start_daemon(o);
    daemon_ = &d;
    ASSERT_TRUE(d.wait_for_log("session connected")) << d.output();
    const auto t0 = clock_type::now();
    sim().expire_sessions();  // the new login validates within 5 s of the first validate: 429
    ASSERT_TRUE(d.wait_for_log("validate failed: HTTP 429")) << d.output();
    expect_connected_again(bound(1, std::chrono::seconds(4)), t0, "429 from IBKR's validate limit, penalty box 3 s");
    EXPECT_EQ(sim_count("penalty_box_violations"), 0u) << "the daemon called IBKR inside its penalty box";
    expect_quiet_after_each_429(std::chrono::seconds(4));
}

TEST_F(fault_matrix, a_hung_tickle_times_out_and_the_session_carries_on) {
    start();
    const auto t0 = clock_type::now();
    fault(R"({"path":"/v1/api/tickle","action":"hang"})");
    expect_connected_again(bound(1), t0, "tickle hangs");
    EXPECT_EQ(logins(), 1u);
}

TEST_F(fault_matrix, a_hung_login_times_out_and_is_retried) {
    start();
    const auto t0 = clock_type::now();
    fault_on_login_step(token_path, R"("action":"hang")");
    expect_connected_again(bound(2), t0, "token request hangs");
    expect_login_budget_kept();
}

TEST_F(fault_matrix, reset_connections) {
    start();
    const auto t0 = clock_type::now();
    fault(R"({"path":"*","action":"reset","count":3})");
    expect_connected_again(bound(3), t0, "connections reset");
    expect_login_budget_kept();
}

TEST_F(fault_matrix, a_login_request_reset_by_the_server_is_never_sent_again_behind_the_budgets_back) {
    start();
    const auto t0 = clock_type::now();
    // The login after the expiry goes out on the connection the tickles kept alive; the server reads
    // it and resets. It may have been processed: the next token request waits for the login budget.
    fault_on_login_step(token_path, R"("action":"reset")");
    expect_connected_again(bound(2), t0, "token request reset");
    expect_login_budget_kept();
    EXPECT_EQ(sim_calls(token_path), 3u) << "the first login, the reset one, the one after the spacing";
}

TEST_F(fault_matrix, a_truncated_body) {
    start();
    const auto t0 = clock_type::now();
    fault(R"({"path":"/v1/api/tickle","action":"truncate"})");
    expect_connected_again(bound(1), t0, "truncated tickle body");
    EXPECT_EQ(logins(), 1u);
}

TEST_F(fault_matrix, garbage_json_on_a_login_step) {
    start();
    const auto t0 = clock_type::now();
    fault_on_login_step(sso_path, R"("action":"garbage")");
    expect_connected_again(bound(2), t0, "garbage JSON from sso-sessions");
    expect_login_budget_kept();
}

TEST_F(fault_matrix, the_wrong_content_type) {
    start();
    const auto t0 = clock_type::now();
    fault(R"({"path":"/v1/api/tickle","action":"content_type","count":2})");
    expect_connected_again(bound(2), t0, "tickle labelled text/html");
    EXPECT_EQ(logins(), 1u);
}

TEST_F(fault_matrix, tls_handshakes_that_fail_or_hang) {
    start();
    const auto t0 = clock_type::now();
    // The connection in use is closed by a reset; the next two handshakes fail, the third hangs.
    fault(R"({"path":"handshake","action":"reset","count":2})");
    fault(R"({"path":"handshake","action":"hang"})");
    fault(R"({"path":"/v1/api/tickle","action":"reset"})");
    expect_connected_again(bound(4), t0, "TLS handshake failures");
    EXPECT_EQ(logins(), 1u);
    EXPECT_GE(daemon_->count_in_log("failed"), 3u);
}

TEST_F(fault_matrix, the_simulator_killed_and_restarted) {
    start();
    sim().kill9();
    ASSERT_TRUE(daemon_->wait_for_log("tickle failed", 1, bound(1))) << daemon_->output();
    const auto t0 = clock_type::now();
    sim().restart();  // a new IBKR process: every session is gone
    expect_connected_again(bound(3), t0, "simulator killed and restarted");
    EXPECT_EQ(logins(), 1u) << "one new login against the restarted simulator";
    expect_login_budget_kept();
}

TEST_F(fault_matrix, maintenance_for_longer_than_the_backoff_cap) {
    start();
    sim().set_maintenance(true);
    // At least three failed calls, the later ones at the backoff cap: the outage outlasts it.
    ASSERT_TRUE(sim().await_calls(tickle_path, 4, bound(4), 503));
    const auto t0 = clock_type::now();
    sim().set_maintenance(false);
    expect_connected_again(bound(1), t0, "maintenance longer than the backoff cap");
    EXPECT_EQ(logins(), 1u) << "503s during maintenance need no new login";
}

TEST_F(fault_matrix, a_competing_session_is_taken_over) {
    start();
    const auto t0 = clock_type::now();
    sim().set_competing(true);
    expect_connected_again(bound(1), t0, "competing session");
    EXPECT_EQ(logins(), 1u);
}

TEST_F(fault_matrix, a_dropped_brokerage_session_is_initialised_again) {
    start();
    const auto t0 = clock_type::now();
    sim().drop_brokerage();
    expect_connected_again(bound(1), t0, "brokerage session dropped");
    EXPECT_EQ(logins(), 1u);
}

TEST_F(fault_matrix, an_expired_sso_session_means_one_new_login) {
    start();
    const auto t0 = clock_type::now();
    sim().expire_sessions();
    expect_connected_again(bound(1), t0, "SSO session expired");
    EXPECT_EQ(logins(), 2u);
}

// A region whose weekly maintenance (Saturday 17:00 to Sunday 02:00, its local time) touches no
// minute of the test's daily reset window (the 30 minutes before now to a few minutes after): the
// daily reset must be the only window. Overlapping windows are one, and weekly maintenance names it.
// New York's covers Saturday 22:00 UTC to Sunday 07:00; CI runs failed this test inside it and, at
// 07:12 UTC, with a reset window that began before 07:00. Hong Kong's is over by Saturday 18:00 UTC.
ibkr_region region_outside_weekly_maintenance() {
    const auto now = std::chrono::system_clock::now();
    for (const ibkr_region r : {ibkr_region::new_york, ibkr_region::hong_kong, ibkr_region::zug}) {
        auto zone = time_zone::load(zone_name(r));
        if (!zone) throw std::runtime_error(zone.error().message);
        const ibkr_calendar calendar(r, std::move(*zone));
        bool touched = false;
        for (auto m = std::chrono::minutes(-35); m <= std::chrono::minutes(5) && !touched; ++m) {
            const auto w = calendar.window_at(now + m);
            touched = w && w->kind == maintenance_window::kind_t::weekly_maintenance;
        }
        if (!touched) return r;
    }
    throw std::runtime_error("every region is in its weekly maintenance");
}

// IBKR_RESET_TIME such that the daily reset window ends `left` from now in the region's time zone.
std::string reset_time_ending_in(milliseconds left, ibkr_region region) {
    auto zone = time_zone::load(zone_name(region));
    if (!zone) throw std::runtime_error(zone.error().message);
    const auto local = zone->to_local(std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()));
    auto time_of_day = local - std::chrono::floor<std::chrono::days>(local);
    const auto reset = (time_of_day - std::chrono::minutes(30) + std::chrono::duration_cast<std::chrono::seconds>(left) +
                        std::chrono::hours(24)) %
                       std::chrono::hours(24);
    const auto s = reset.count();
    return fmt::format("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
}

TEST_F(fault_matrix, the_nightly_reset_is_ridden_out_calmly_and_the_session_rebuilt_when_it_ends) {
    daemon_options o = matrix_options();
    const ibkr_region region = region_outside_weekly_maintenance();
    o.environment["IBKR_REGION"] = std::string(to_string(region));
    o.environment["IBKR_RESET_TIME"] = reset_time_ending_in(std::chrono::seconds(12), region);
    start(o);
    // The reset: every session ends and IBKR answers 503 for a while. The next tickle learns that the
    // session is gone (401), and the login that follows meets the 503s.
    sim().set_maintenance(true);
    fault(R"({"path":"/v1/api/tickle","action":"status","status":401})");
    sim().expire_sessions();
    ASSERT_TRUE(daemon_->wait_for_log("oauth failed: HTTP 503", 2, bound(3))) << daemon_->output();
    EXPECT_GE(daemon_->count_in_log("(expected: IBKR's daily reset"), 2u) << daemon_->log();
    const auto status = daemon_->api().get("/api/ibkr/status");
    ASSERT_TRUE(status);
    const auto j = status->json().as_object();
    ASSERT_TRUE(j.at("maintenance_window").is_object()) << status->body;
    EXPECT_EQ(j.at("maintenance_window").at("kind"), "daily_reset");
    // The 401 that ended the session counts; the 503s of the window that followed do not.
    EXPECT_EQ(j.at("consecutive_failures").as_int64(), 1) << status->body;
    const auto t0 = clock_type::now();
    sim().set_maintenance(false);
    expect_connected_again(bound(2, std::chrono::seconds(12)), t0, "nightly reset");
    expect_login_budget_kept();
    EXPECT_EQ(daemon_->count_in_log("warn  oauth failed"), 0u) << "failures in the window are information, not warnings";
}

}  // namespace
}  // namespace sessiond::testing
