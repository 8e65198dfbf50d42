// The session machine's transitions: each test is one rule of the lifecycle, driven with a fixed
// clock and a fixed jitter sample, so every delay is exact.

#include "sessiond/session/lifecycle_machine.hpp"

#include "unit/session/machine_harness.hpp"

#include <gtest/gtest.h>

namespace sessiond {
namespace {

using namespace sessiond::testing;

TEST_F(machine_test, login_flow_runs_oauth_sso_validate_init_settle_accounts_then_tickles) {
    expect_call(start(), step::oauth, 0ms);
    EXPECT_EQ(snap().state, lifecycle::connecting);
    expect_call(feed(ok(step::oauth)), step::sso, 0ms);
    expect_call(feed(ok(step::sso)), step::validate, 0ms);
    expect_call(feed(validated()), step::init, 0ms);
    EXPECT_TRUE(last.compete);
    expect_call(feed(initialised()), step::accounts, 3s);
    EXPECT_TRUE(snap().waiting);
    expect_call(feed(listed()), step::tickle, 0ms);
    EXPECT_EQ(snap().state, lifecycle::connecting);
    expect_call(feed(tickled()), step::tickle, 60s);
    EXPECT_EQ(snap().state, lifecycle::connected);
}

TEST_F(machine_test, first_healthy_tickle_records_what_ibkr_reported) {
    connect();
    EXPECT_EQ(snap().connected_since, now);
    EXPECT_EQ(snap().last_tickle_at, now);
    EXPECT_EQ(snap().sso_expires_at, now + 500'000ms);
    EXPECT_EQ(snap().login_type, ibkr_environment::paper);
    EXPECT_EQ(snap().brokerage.server_name, "JifN19053");
    EXPECT_TRUE(snap().brokerage.authenticated);
    EXPECT_EQ(snap().counters.logins, 1u);
    EXPECT_EQ(snap().counters.login_attempts, 1u);
    EXPECT_EQ(snap().counters.tickles, 1u);
    EXPECT_EQ(snap().consecutive_failures, 0);
}

TEST_F(machine_test, healthy_session_tickles_every_interval) {
    connect();
    for (int i = 0; i < 5; ++i) expect_call(feed(tickled()), step::tickle, 60s);
    EXPECT_EQ(snap().counters.tickles, 6u);
    EXPECT_EQ(snap().counters.login_attempts, 1u);
}

TEST_F(machine_test, reconnects_at_once_after_tickle_returns_401) {
    connect();
    expect_call(feed(failed(step::tickle, failure::unauthorized, 401)), step::oauth, 0ms);
    EXPECT_EQ(snap().state, lifecycle::reconnecting);
    EXPECT_FALSE(machine.has_sso_session());
    EXPECT_EQ(snap().counters.reconnects, 1u);
    EXPECT_EQ(snap().counters.relogins, 1u);
    EXPECT_EQ(snap().counters.tickle_failures[static_cast<std::size_t>(failure::unauthorized)], 1u);
    ASSERT_TRUE(snap().last_error);
    EXPECT_EQ(snap().last_error->at, step::tickle);
    EXPECT_EQ(snap().last_error->http_status, 401);
}

TEST_F(machine_test, a_login_that_fails_after_a_401_backs_off) {
    connect();
    feed(failed(step::tickle, failure::unauthorized, 401));
    expect_call(feed(failed(step::oauth, failure::server_error, 503)), step::oauth, 4s);  // attempt 2
    EXPECT_EQ(snap().consecutive_failures, 2);
}

TEST_F(machine_test, reinitialises_without_a_new_login_when_the_brokerage_session_lapses) {
    connect();
    expect_call(feed(tickled(status(false, true, false))), step::init, 0ms);
    EXPECT_EQ(snap().state, lifecycle::reconnecting);
    EXPECT_TRUE(machine.has_sso_session());
    EXPECT_EQ(snap().counters.reinits, 1u);
    expect_call(feed(initialised()), step::accounts, 3s);
    expect_call(feed(listed()), step::tickle, 0ms);
    expect_call(feed(tickled()), step::tickle, 60s);
    EXPECT_EQ(snap().state, lifecycle::connected);
    EXPECT_EQ(snap().counters.login_attempts, 1u) << "re-init must not log in again";
}

TEST_F(machine_test, a_brokerage_session_that_will_not_come_back_is_reinitialised_with_backoff) {
    connect();
    feed(tickled(status(false, true, false)));
    feed(initialised());
    feed(listed());
    expect_call(feed(tickled(status(false, true, false))), step::init, 4s);
    EXPECT_EQ(snap().counters.reinits, 2u);
}

TEST_F(machine_test, tickle_without_auth_status_is_treated_as_not_authenticated) {
    connect();
    step_outcome o = ok(step::tickle);
    o.tickle = tickle_report{std::nullopt, 400'000ms, {}};
    expect_call(feed(o), step::init, 0ms);
}

TEST_F(machine_test, takes_over_a_competing_session_when_compete_is_true) {
    connect();
    expect_call(feed(tickled(status(false, true, true))), step::init, 0ms);
    EXPECT_TRUE(last.compete);
    EXPECT_EQ(snap().state, lifecycle::competing);
    EXPECT_EQ(snap().counters.takeovers, 1u);
    feed(initialised());
    feed(listed());
    feed(tickled());
    EXPECT_EQ(snap().state, lifecycle::connected);
}

TEST_F(machine_test, repeated_takeovers_wait_longer_each_time) {
    connect();
    expect_call(feed(tickled(status(false, true, true))), step::init, 0ms);
    feed(initialised());
    feed(listed());
    feed(tickled());
    // The other party logs in again straight away: the second takeover in a row waits.
    expect_call(feed(tickled(status(false, true, true))), step::init, 2s);
    feed(initialised());
    feed(listed());
    feed(tickled());
    expect_call(feed(tickled(status(false, true, true))), step::init, 4s);
}

class machine_without_compete : public machine_test {
protected:
    static machine_settings no_compete() {
        auto s = test_settings();
        s.compete = false;
        return s;
    }
    machine_without_compete() : machine_test(no_compete()) {}
};

TEST_F(machine_without_compete, reports_competing_and_keeps_tickling_without_taking_over) {
    connect();
    expect_call(feed(tickled(status(false, true, true))), step::tickle, 60s);
    EXPECT_EQ(snap().state, lifecycle::competing);
    expect_call(feed(tickled(status(false, true, true))), step::tickle, 60s);
    EXPECT_EQ(snap().counters.takeovers, 0u);
    // The other session went away: initialise ours again, still without competing.
    expect_call(feed(tickled(status(false, true, false))), step::init, 0ms);
    EXPECT_FALSE(last.compete);
}

TEST_F(machine_without_compete, init_refused_for_a_competing_session_waits_in_competing) {
    run_until(step::init);
    EXPECT_FALSE(last.compete);
    expect_call(feed(initialised(status(false, true, true))), step::tickle, 60s);
    EXPECT_EQ(snap().state, lifecycle::competing);
}

TEST_F(machine_test, server_errors_on_tickle_back_off_and_retry_the_tickle_not_the_login) {
    connect();
    expect_call(feed(failed(step::tickle, failure::server_error, 503)), step::tickle, 2s);
    EXPECT_EQ(snap().state, lifecycle::reconnecting);
    expect_call(feed(failed(step::tickle, failure::timeout)), step::tickle, 4s);
    expect_call(feed(failed(step::tickle, failure::transport)), step::tickle, 8s);
    expect_call(feed(tickled()), step::tickle, 60s);
    EXPECT_EQ(snap().state, lifecycle::connected);
    EXPECT_EQ(snap().counters.login_attempts, 1u);
    EXPECT_EQ(snap().counters.reconnects, 1u);
    EXPECT_EQ(snap().consecutive_failures, 0);
}

TEST_F(machine_test, failures_in_oauth_or_sso_restart_the_login_from_oauth) {
    start();
    feed(ok(step::oauth));
    expect_call(feed(failed(step::sso, failure::server_error, 500)), step::oauth, 2s);
    feed(ok(step::oauth));
    expect_call(feed(failed(step::sso, failure::forbidden, 403)), step::oauth, 4s);
    expect_call(feed(failed(step::oauth, failure::unauthorized, 401)), step::oauth, 8s);
    EXPECT_EQ(snap().state, lifecycle::connecting);
}

TEST_F(machine_test, transient_failures_after_sso_retry_the_same_step) {
    run_until(step::validate);
    // validate is paced to one per minute (and the margin) from the start of the last call (which took 5 ms)
    expect_call(feed(failed(step::validate, failure::timeout)), step::validate, 59'995ms + ibkr_pace_margin);
    feed(validated());
    expect_call(feed(failed(step::init, failure::server_error, 500)), step::init, 4s);
    feed(initialised());
    expect_call(feed(failed(step::accounts, failure::bad_response)), step::accounts, 8s);
}

TEST_F(machine_test, backoff_doubles_up_to_the_cap_and_resets_only_after_an_authenticated_tickle) {
    start();
    const milliseconds expected[] = {2s, 4s, 8s, 16s, 32s, 64s, 128s, 256s, 300s, 300s};
    for (const auto d : expected) expect_call(feed(failed(step::oauth, failure::server_error, 503)), step::oauth, d);
    feed(ok(step::oauth));
    feed(ok(step::sso));
    feed(validated());
    feed(initialised());
    EXPECT_EQ(snap().consecutive_failures, 10) << "a partial login does not reset the backoff";
    feed(listed());
    feed(tickled());
    EXPECT_EQ(snap().consecutive_failures, 0);
    feed(failed(step::tickle, failure::server_error, 503));
    EXPECT_EQ(last.delay, 2s);
}

TEST_F(machine_test, rate_limited_waits_for_retry_after) {
    connect();
    expect_call(feed(failed(step::tickle, failure::rate_limited, 429, 42s)), step::tickle, 42s);
    EXPECT_TRUE(snap().rate_limited);
    feed(tickled());
    EXPECT_FALSE(snap().rate_limited);
}

TEST_F(machine_test, rate_limited_without_retry_after_waits_the_penalty_period) {
    start();
    expect_call(feed(failed(step::oauth, failure::rate_limited, 429)), step::oauth, 15min);
}

TEST_F(machine_test, validate_is_never_called_twice_within_its_pacing_interval) {
    run_until(step::accounts);
    const wall_time first_validate = *machine.pacer().last_start(endpoint_of(step::validate).path);
    feed(listed());
    // The session is gone on the very first tickle, 3 s after validate: the new login goes on without
    // validate, and validate comes when a minute (and the margin) has passed since the last one.
    feed(failed(step::tickle, failure::unauthorized, 401));
    feed(ok(step::oauth));
    expect_call(feed(ok(step::sso)), step::init, 0ms);
    feed(initialised());
    feed(listed());
    const directive d = feed(tickled());
    EXPECT_EQ(d.next, step::validate);
    EXPECT_EQ(now + d.delay, first_validate + 60s + ibkr_pace_margin);
}

TEST_F(machine_test, a_replacement_session_continues_the_pacing_of_the_one_it_replaces) {
    run_until(step::accounts);  // validate called at the start of this machine's login
    ASSERT_TRUE(machine.pacer().last_start(endpoint_of(step::validate).path));
    const wall_time first_validate = *machine.pacer().last_start(endpoint_of(step::validate).path);

    lifecycle_machine next(test_settings(), [] { return 0.0; }, machine.shared_pacer());  // the username's pacer
    next.start(now);
    next.on_call_started(now);
    next.on_outcome(ok(step::oauth), now);
    next.on_call_started(now);
    const directive d = next.on_outcome(ok(step::sso), now);
    EXPECT_EQ(d.next, step::init) << "the new session's validate waits for the old one's pacing";
    EXPECT_EQ(next.snapshot().validate_deferred_until, first_validate + 60s + ibkr_pace_margin);
}

class tickle_pace_test : public machine_test {
protected:
    // Logged in, with a backoff short enough that only IBKR's tickle pace spaces a retry; the first
    // tickle has started.
    void start_first_tickle_with_a_short_backoff() {
        auto s = test_settings();
        s.backoff_initial = 100ms;
        machine.reconfigure(s);
        run_until(step::tickle);
        machine.on_call_started(now);
    }
};

TEST_F(tickle_pace_test, tickle_retries_are_paced_to_one_per_second) {
    start_first_tickle_with_a_short_backoff();
    const auto d = machine.on_outcome(failed(step::tickle, failure::server_error, 503), now + 10ms);
    EXPECT_EQ(d.next, step::tickle);
    EXPECT_EQ(d.delay, 990ms + ibkr_pace_margin);
}

TEST_F(tickle_pace_test, a_request_delayed_by_opening_a_connection_paces_from_when_it_went_out) {
    start_first_tickle_with_a_short_backoff();
    machine.on_request_sent(now + 300ms);  // the connection took 300 ms to open
    machine.on_request_sent(now - 1s);     // an earlier time changes nothing
    const auto d = machine.on_outcome(failed(step::tickle, failure::server_error, 503), now + 310ms);
    EXPECT_EQ(d.next, step::tickle);
    EXPECT_EQ(d.delay, 1s + ibkr_pace_margin - 10ms) << "one tickle pace from when the first one went out";
}

TEST_F(machine_test, a_live_login_for_a_paper_configuration_halts_and_logs_out) {
    run_until(step::validate);
    expect_call(feed(validated(ibkr_environment::live)), step::logout, 0ms);
    EXPECT_EQ(snap().state, lifecycle::halted);
    EXPECT_NE(snap().halt_reason.find("IBKR reports a live login but IBKR_ENV=paper"), std::string::npos);
    EXPECT_TRUE(feed(ok(step::logout)).idle());
    EXPECT_EQ(snap().state, lifecycle::halted);
    EXPECT_FALSE(machine.has_sso_session());
}

TEST_F(machine_test, a_validate_without_login_type_is_accepted) {
    run_until(step::validate);
    expect_call(feed(validated(std::nullopt)), step::init, 0ms);
}

TEST_F(machine_test, an_account_missing_from_the_list_halts_and_logs_out) {
    run_until(step::accounts);
    expect_call(feed(listed({"DU999", "DU888"})), step::logout, 0ms);
    EXPECT_EQ(snap().state, lifecycle::halted);
    EXPECT_NE(snap().halt_reason.find("IBKR_ACCOUNT_ID DU1234567 is not among the accounts of this login (DU999, DU888)"),
              std::string::npos);
    // A failed logout still ends in idle: nothing more is called.
    EXPECT_TRUE(feed(failed(step::logout, failure::timeout)).idle());
}

TEST_F(machine_test, an_empty_account_list_is_retried) {
    run_until(step::accounts);
    expect_call(feed(listed({})), step::accounts, 2s);
    EXPECT_NE(snap().state, lifecycle::halted);
}

TEST_F(machine_test, validate_result_false_means_a_new_login_after_backoff) {
    run_until(step::validate);
    expect_call(feed(validated(ibkr_environment::paper, false)), step::oauth, 2s);
    EXPECT_EQ(snap().last_error->kind, failure::unauthorized);
}

TEST_F(machine_test, no_bridge_on_accounts_initialises_the_brokerage_session_again) {
    run_until(step::accounts);
    expect_call(feed(failed(step::accounts, failure::rejected, 400)), step::init, 2s);
}

TEST_F(machine_test, gone_on_init_means_a_new_login) {
    run_until(step::init);
    expect_call(feed(failed(step::init, failure::rejected, 410)), step::oauth, 2s);
}

TEST_F(machine_test, tickle_accepted_but_not_processed_is_counted_and_retried) {
    connect();
    step_outcome o = ok(step::tickle);
    o.tickle = tickle_report{std::nullopt, std::nullopt, "not processed"};
    expect_call(feed(o), step::tickle, 2s);
    EXPECT_EQ(snap().counters.tickle_failures[static_cast<std::size_t>(failure::not_processed)], 1u);
    EXPECT_EQ(snap().state, lifecycle::reconnecting);
}

TEST_F(machine_test, refreshes_the_sso_session_with_validate_before_it_runs_out) {
    connect();
    now += 60s;  // past validate's pacing
    expect_call(feed(tickled(status(true, true, false), 170'000ms)), step::validate, 0ms);
    EXPECT_EQ(snap().state, lifecycle::connected) << "a refresh is not an outage";
    expect_call(feed(validated(ibkr_environment::paper, true, 600'000ms)), step::tickle, 60s);
    EXPECT_EQ(snap().counters.rebuilds, 0u);
}

TEST_F(machine_test, rebuilds_the_session_when_validate_does_not_extend_it) {
    connect();
    now += 60s;
    feed(tickled(status(true, true, false), 170'000ms));
    expect_call(feed(validated(ibkr_environment::paper, true, 110'000ms)), step::oauth, 0ms);
    EXPECT_EQ(snap().counters.rebuilds, 1u);
    EXPECT_EQ(snap().counters.reconnects, 0u) << "a planned rebuild is not a loss";
}

TEST_F(machine_test, a_refresh_validate_that_fails_keeps_the_session_and_its_tickles) {
    connect();
    now += 60s;
    feed(tickled(status(true, true, false), 170'000ms));
    expect_call(feed(failed(step::validate, failure::server_error, 503)), step::tickle, 60s);
    EXPECT_EQ(snap().state, lifecycle::connected);
    // SSO time keeps falling; validate is not tried again, the session is rebuilt before it ends.
    expect_call(feed(tickled(status(true, true, false), 65'000ms)), step::oauth, 0ms);
}

TEST_F(machine_test, rebuilds_the_session_before_its_maximum_age) {
    connect();
    now += std::chrono::hours(24);
    expect_call(feed(tickled()), step::oauth, 0ms);
    EXPECT_EQ(snap().counters.rebuilds, 1u);
}

TEST_F(machine_test, a_cancelled_call_leaves_the_machine_idle) {
    connect();
    EXPECT_TRUE(feed(failed(step::tickle, failure::cancelled)).idle());
    EXPECT_EQ(snap().counters.reconnects, 0u);
}

TEST_F(machine_test, snapshot_shows_the_next_call_and_whether_it_is_waiting) {
    connect();
    ASSERT_TRUE(snap().next_call_at);
    EXPECT_EQ(*snap().next_call_at, now + 60s);
    EXPECT_TRUE(snap().waiting);
    EXPECT_EQ(snap().current_step, step::tickle);
    machine.on_call_started(now + 60s);
    EXPECT_FALSE(snap().waiting);
    EXPECT_FALSE(snap().next_call_at);
}

TEST_F(machine_test, reason_says_why_the_session_is_not_connected_and_clears_when_it_is) {
    connect();
    EXPECT_EQ(snap().reason, "");
    feed(failed(step::tickle, failure::server_error, 503));
    EXPECT_EQ(snap().reason, "tickle: HTTP 503 (server_error) injected");
    feed(failed(step::tickle, failure::timeout));
    EXPECT_EQ(snap().reason, "tickle: (timeout) injected");
    feed(tickled());
    EXPECT_EQ(snap().reason, "");
    now += std::chrono::hours(24);
    feed(tickled());
    EXPECT_EQ(snap().reason, "planned rebuild: the session reached its maximum age");
}

TEST_F(machine_test, stopping_and_stopped_are_reported) {
    connect();
    machine.on_stopping();
    EXPECT_EQ(snap().state, lifecycle::stopping);
    machine.on_stopped();
    EXPECT_EQ(snap().state, lifecycle::stopped);
}

TEST(machine_settings, sso_refresh_margin_is_three_tickles_within_bounds) {
    machine_settings s;
    s.tickle_interval = 60s;
    EXPECT_EQ(s.sso_refresh_margin(), 180s);
    s.tickle_interval = 1s;
    EXPECT_EQ(s.sso_refresh_margin(), 5s);
    s.tickle_interval = 290s;
    EXPECT_EQ(s.sso_refresh_margin(), 180s);
}

TEST(lifecycle, has_a_name_for_every_state) {
    for (auto l : {lifecycle::not_configured, lifecycle::connecting, lifecycle::connected, lifecycle::reconnecting,
                   lifecycle::competing, lifecycle::throttled, lifecycle::halted, lifecycle::stopping, lifecycle::stopped})
        EXPECT_NE(to_string(l), "unknown");
}

}  // namespace
}  // namespace sessiond
