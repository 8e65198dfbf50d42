// The session machine never hammers IBKR: the login budget, IBKR's global request rate, 429
// penalties, and IBKR's maintenance windows, whatever the backoff settings say.

#include "machine_harness.hpp"

#include "sessiond/pacing/rate_window.hpp"

namespace sessiond::testing {
namespace {

using namespace std::chrono;

machine_settings budget_settings(milliseconds spacing = 10s, int per_hour = 3) {
    machine_settings s = test_settings();
    s.login_min_interval = spacing;
    s.logins_per_hour = per_hour;
    s.backoff_initial = 1s;
    s.backoff_max = 2s;
    return s;
}

class login_budget_machine : public machine_test {
protected:
    login_budget_machine() : machine_test(budget_settings()) {}
};

TEST_F(login_budget_machine, a_failed_login_is_retried_no_sooner_than_the_minimum_spacing) {
    start();
    const directive d = feed(failed(step::oauth, failure::server_error, 503));
    EXPECT_EQ(d.next, step::oauth);
    EXPECT_EQ(d.delay, 10s - 5ms) << "the backoff says 1 s; the budget says 10 s after the last login started";
    EXPECT_EQ(snap().state, lifecycle::throttled);
    ASSERT_TRUE(snap().throttled_until);
    EXPECT_EQ(*snap().throttled_until, now + d.delay);
}

// A login whose own budget says "now" but whose daemon-wide slot is later (other users' logins took
// the earlier ones) is throttled by the login rate, and says so: not by its budget.
TEST_F(login_budget_machine, a_later_daemon_wide_login_slot_is_told_apart_from_the_budget) {
    auto slots = std::make_shared<login_slots>(500ms);
    slots->reserve(now, now);  // another user's login holds the first slot
    machine.shared_pacer()->share_login_slots(slots);
    start();
    EXPECT_EQ(snap().state, lifecycle::throttled);
    EXPECT_TRUE(snap().throttled_by_login_rate);
    EXPECT_EQ(snap().throttled_until, now + 500ms);

    // Its own budget, after a failed login: the budget's 10 s, no longer the rate.
    now += 500ms;
    feed(failed(step::oauth, failure::server_error, 503));
    EXPECT_EQ(snap().state, lifecycle::throttled);
    EXPECT_FALSE(snap().throttled_by_login_rate);
}

TEST_F(login_budget_machine, past_the_hourly_cap_the_next_login_waits_until_the_oldest_is_an_hour_old) {
    const wall_time first = now;
    start();
    for (int i = 0; i < 3; ++i) feed(failed(step::oauth, failure::server_error, 503));
    EXPECT_EQ(snap().logins_last_hour, 3u);
    EXPECT_EQ(snap().state, lifecycle::throttled);
    EXPECT_EQ(last.next, step::oauth);
    EXPECT_EQ(now + last.delay, first + 1h);
    EXPECT_EQ(snap().throttled_until, first + 1h);
    EXPECT_EQ(snap().counters.login_attempts, 3u);
}

TEST_F(login_budget_machine, never_more_logins_than_the_budget_in_any_hour_however_the_logins_fail) {
    start();
    std::vector<wall_time> logins;
    const failure kinds[] = {failure::server_error, failure::unauthorized, failure::timeout, failure::forbidden};
    for (int i = 0; i < 40; ++i) {
        logins.push_back(now + last.delay);
        feed(failed(step::oauth, kinds[i % 4], 500));
    }
    for (std::size_t i = 3; i < logins.size(); ++i) EXPECT_GE(logins[i] - logins[i - 3], 1h) << "login " << i;
    for (std::size_t i = 1; i < logins.size(); ++i) EXPECT_GE(logins[i] - logins[i - 1], 10s) << "login " << i;
}

TEST_F(login_budget_machine, a_connection_test_cannot_skip_the_budget) {
    start();
    feed(failed(step::oauth, failure::server_error, 503));
    const directive d = machine.on_test_requested(now);
    EXPECT_EQ(d.next, step::oauth);
    EXPECT_EQ(d.delay, 10s - 5ms);
}

TEST_F(login_budget_machine, a_restored_record_throttles_the_first_login_after_a_restart) {
    login_budget saved({10s, 3});
    for (int i = 3; i >= 1; --i) saved.record(now - minutes(i));
    lifecycle_machine restarted(budget_settings(), [] { return 0.0; });
    restarted.shared_pacer()->restore(persisted_pacing{saved, std::nullopt}, now);
    const directive d = restarted.start(now);
    EXPECT_EQ(d.next, step::oauth);
    EXPECT_EQ(d.delay, 57min) << "three logins in the last three minutes: the oldest leaves the hour in 57 min";
    EXPECT_EQ(restarted.snapshot().state, lifecycle::throttled);
    EXPECT_EQ(restarted.snapshot().logins_last_hour, 3u);
}

TEST_F(login_budget_machine, the_first_login_after_the_wait_leaves_the_throttled_state) {
    start();
    feed(failed(step::oauth, failure::server_error, 503));
    ASSERT_EQ(snap().state, lifecycle::throttled);
    feed(ok(step::oauth));
    EXPECT_EQ(snap().state, lifecycle::connecting);
    EXPECT_FALSE(snap().throttled_until);
}

TEST_F(login_budget_machine, a_replacement_session_inherits_the_logins_of_the_one_it_replaces) {
    start();
    feed(failed(step::oauth, failure::server_error, 503));
    feed(failed(step::oauth, failure::server_error, 503));
    lifecycle_machine next(budget_settings(), [] { return 0.0; }, machine.shared_pacer());
    EXPECT_EQ(next.snapshot().logins_last_hour, 2u);
    EXPECT_EQ(next.start(now).delay, 10s - 5ms);
}

TEST_F(login_budget_machine, healthy_sessions_spend_no_budget) {
    connect();
    for (int i = 0; i < 100; ++i) feed(tickled());
    EXPECT_EQ(snap().logins_last_hour, 1u);
    EXPECT_EQ(snap().counters.login_attempts, 1u);
}

// ---- IBKR's global request rate ------------------------------------------------------------------

machine_settings rate_settings(int per_second) {
    machine_settings s = test_settings();
    s.max_requests_per_second = per_second;
    s.init_settle = 0ms;
    s.backoff_initial = 1ms;  // retries as fast as the backoff allows: only the rate limit spaces them
    s.backoff_max = 1ms;
    return s;
}

TEST(machine_request_rate, never_more_calls_in_a_second_than_the_limit) {
    lifecycle_machine m(rate_settings(3), [] { return 0.0; });
    wall_time now = wall_clock::from_time_t(1'764'000'000);
    directive d = m.start(now);
    std::vector<wall_time> starts;
    // Every call fails at once and is retried with a tiny backoff: only the rate limit spaces them.
    for (int i = 0; i < 30; ++i) {
        now += d.delay;
        starts.push_back(now);
        m.on_call_started(now);
        now += 1ms;
        d = m.on_outcome(i % 2 == 0 ? ok(step::oauth) : failed(step::sso, failure::server_error, 503), now);
    }
    for (std::size_t i = 3; i < starts.size(); ++i) EXPECT_GE(starts[i] - starts[i - 3], 1s) << "call " << i;
}

TEST(machine_request_rate, the_login_flow_fits_within_ibkrs_ten_a_second) {
    lifecycle_machine m(rate_settings(10), [] { return 0.0; });
    wall_time now = wall_clock::from_time_t(1'764'000'000);
    EXPECT_EQ(m.start(now).delay, 0ms);
    const step_outcome flow[] = {ok(step::oauth), ok(step::sso), validated(), initialised(), listed()};
    for (const auto& o : flow) {
        m.on_call_started(now);
        EXPECT_EQ(m.on_outcome(o, now).delay, 0ms) << "after " << to_string(o.which);
    }
}

TEST(machine_request_rate, a_continued_session_counts_the_requests_of_the_one_it_replaces) {
    wall_time now = wall_clock::from_time_t(1'764'000'000);
    lifecycle_machine old(rate_settings(2), [] { return 0.0; });
    old.start(now);
    old.on_call_started(now);
    old.on_outcome(ok(step::oauth), now);
    old.on_call_started(now);
    lifecycle_machine next(rate_settings(2), [] { return 0.0; }, old.shared_pacer());
    EXPECT_EQ(next.start(now).delay, 1s + ibkr_pace_margin);
}

// ---- 429 -----------------------------------------------------------------------------------------

TEST_F(machine_test, a_429_stops_every_call_until_retry_after_even_a_connection_test) {
    connect();
    feed(failed(step::tickle, failure::rate_limited, 429, 120s));
    EXPECT_TRUE(snap().rate_limited);
    now += 10s;
    const directive d = machine.on_test_requested(now);
    EXPECT_EQ(d.next, step::tickle);
    EXPECT_EQ(d.delay, 110s);
}

TEST_F(machine_test, a_429_on_a_login_step_waits_the_penalty_before_the_next_login) {
    start();
    feed(ok(step::oauth));
    const directive d = feed(failed(step::sso, failure::rate_limited, 429));
    EXPECT_EQ(d.next, step::oauth);
    EXPECT_EQ(d.delay, 15min);
}

TEST_F(machine_test, a_429_the_session_earned_silences_every_other_caller_of_the_username) {
    connect();
    feed(failed(step::tickle, failure::rate_limited, 429, 120s));
    EXPECT_EQ(machine.pacer().ready_at("/v1/api/iserver/accounts", now + 1s), now + 120s)
        << "the gateway's next call for this username waits as long as the session's";
}

TEST_F(machine_test, a_429_another_caller_earned_holds_the_sessions_next_call) {
    connect();
    const wall_time until = now + 10min;
    machine.shared_pacer()->penalise(until);  // the gateway was told 429 for this username
    const directive d = feed(tickled());
    EXPECT_EQ(d.next, step::tickle);
    EXPECT_EQ(now + d.delay, until);
    EXPECT_TRUE(snap().rate_limited);
}

// ---- IBKR's maintenance windows -------------------------------------------------------------------

std::shared_ptr<const ibkr_calendar> new_york() {
    auto zone = time_zone::load("America/New_York");
    if (!zone) throw std::runtime_error(zone.error().message);
    return std::make_shared<const ibkr_calendar>(ibkr_region::new_york, std::move(*zone));
}

machine_settings calendar_settings() {
    machine_settings s = test_settings();
    s.calendar = new_york();
    s.backoff_initial = 2s;
    s.backoff_max = 300s;
    return s;
}

// Tuesday 2026-12-01: the daily reset window is 05:55-06:30 UTC (00:55-01:30 EST).
const wall_time before_reset = sys_days(2026y / December / 1) + 5h + 50min;
const wall_time in_reset = sys_days(2026y / December / 1) + 6h;
const wall_time reset_end = sys_days(2026y / December / 1) + 6h + 30min;

class maintenance_machine : public machine_test {
protected:
    maintenance_machine() : machine_test(calendar_settings()) { now = before_reset; }
};

TEST_F(maintenance_machine, failures_in_the_window_do_not_escalate_and_retry_at_the_backoff_cap) {
    connect();
    now = in_reset;
    const directive d = feed(failed(step::tickle, failure::server_error, 503));
    EXPECT_EQ(d.next, step::tickle);
    EXPECT_EQ(d.delay, 300s) << "u = 0: the top of the cap's jitter range, sooner than the window's end";
    EXPECT_EQ(snap().consecutive_failures, 0) << "an expected failure is not one in a row";
    ASSERT_TRUE(snap().maintenance);
    EXPECT_EQ(snap().maintenance->kind, maintenance_window::kind_t::daily_reset);
    EXPECT_EQ(snap().maintenance->start, reset_end - 35min);
    EXPECT_EQ(snap().maintenance->end, reset_end);
    EXPECT_EQ(snap().state, lifecycle::reconnecting);
}

TEST_F(maintenance_machine, near_its_end_the_retry_comes_when_the_window_ends) {
    connect();
    now = reset_end - 2min;
    const directive d = feed(failed(step::tickle, failure::server_error, 503));  // a minute before the end
    EXPECT_EQ(d.delay, duration_cast<milliseconds>(reset_end - now));
}

TEST_F(maintenance_machine, retries_in_a_long_window_come_at_the_backoff_cap) {
    connect();
    now = sys_days(2026y / December / 5) + 23h;  // Saturday 18:00 EST: weekly maintenance until 07:00 UTC
    for (int i = 0; i < 5; ++i) {
        const directive d = feed(failed(step::tickle, failure::timeout));
        EXPECT_EQ(d.delay, 300s) << "u = 0: the top of the cap's jitter range";
        EXPECT_EQ(snap().consecutive_failures, 0);
        EXPECT_EQ(snap().maintenance->kind, maintenance_window::kind_t::weekly_maintenance);
    }
}

TEST_F(maintenance_machine, a_login_that_meets_maintenance_is_retried_as_a_login_and_still_within_the_budget) {
    connect();
    now = in_reset;
    feed(failed(step::tickle, failure::unauthorized, 401));
    EXPECT_EQ(last.next, step::oauth) << "a 401 is not maintenance: the session is gone";
    const directive d = feed(failed(step::oauth, failure::server_error, 503));
    EXPECT_EQ(d.next, step::oauth);
    EXPECT_EQ(snap().consecutive_failures, 1) << "only the 401 counted";
    EXPECT_TRUE(snap().maintenance);
}

TEST_F(maintenance_machine, the_same_failures_outside_a_window_back_off_as_usual) {
    connect();
    const directive d = feed(failed(step::tickle, failure::server_error, 503));
    EXPECT_EQ(d.delay, 2s);
    EXPECT_EQ(snap().consecutive_failures, 1);
    EXPECT_FALSE(snap().maintenance);
}

TEST_F(maintenance_machine, after_the_window_the_backoff_starts_from_the_beginning) {
    connect();
    now = reset_end - 2min;
    feed(failed(step::tickle, failure::server_error, 503));
    ASSERT_EQ(now + last.delay, reset_end);
    const directive d = feed(failed(step::tickle, failure::server_error, 503));  // at the end: still down
    EXPECT_FALSE(snap().maintenance);
    EXPECT_EQ(snap().consecutive_failures, 1);
    EXPECT_EQ(d.delay, 2s);
}

TEST_F(maintenance_machine, a_healthy_tickle_ends_the_expected_outage) {
    connect();
    now = in_reset;
    feed(failed(step::tickle, failure::server_error, 503));
    feed(tickled());
    EXPECT_FALSE(snap().maintenance);
    EXPECT_EQ(snap().state, lifecycle::connected);
}

TEST_F(maintenance_machine, refusals_are_never_taken_for_maintenance) {
    connect();
    now = in_reset;
    feed(failed(step::tickle, failure::rejected, 400));
    EXPECT_FALSE(snap().maintenance);
    EXPECT_EQ(snap().consecutive_failures, 1);
}

}  // namespace
}  // namespace sessiond::testing

namespace sessiond::testing {
namespace {

TEST_F(machine_test, a_restart_keeps_the_last_validates_pace_and_waits_a_tickle_pace_before_tickling) {
    login_budget logins({0ms, 1000});
    lifecycle_machine restarted(test_settings(), [] { return 0.0; });
    restarted.shared_pacer()->restore(persisted_pacing{logins, now - 20s}, now);
    restarted.start(now);
    restarted.on_call_started(now);
    restarted.on_outcome(ok(step::oauth), now);
    restarted.on_call_started(now);
    const directive d = restarted.on_outcome(ok(step::sso), now);
    EXPECT_EQ(d.next, step::init) << "the restart does not wait for validate to connect";
    // 20 s ago by its stamp, but it may have reached IBKR up to http_timeout (10 s) later.
    EXPECT_EQ(restarted.snapshot().validate_deferred_until, now + 50s + ibkr_pace_margin)
        << "IBKR allows one validate a minute, across restarts";
    EXPECT_EQ(restarted.pacer().last_start(endpoint_of(step::tickle).path), now);
}

TEST_F(machine_test, a_restart_spaces_its_first_login_from_when_the_last_one_may_have_reached_ibkr) {
    auto s = test_settings();
    s.login_min_interval = 10s;
    login_budget logins({10s, 30});
    logins.record(now - 5s);  // stamped just before it set out; the process died during the call
    lifecycle_machine restarted(s, [] { return 0.0; });
    restarted.shared_pacer()->restore(persisted_pacing{logins, std::nullopt}, now);
    const directive d = restarted.start(now);
    EXPECT_EQ(d.next, step::oauth);
    EXPECT_EQ(d.delay, 15s) << "10 s of spacing from 5 s ago plus the 10 s the request may have taken to arrive";
    EXPECT_EQ(restarted.snapshot().state, lifecycle::throttled);

    lifecycle_machine reloaded(s, [] { return 0.0; }, restarted.shared_pacer());  // a reload right after the restart
    EXPECT_EQ(reloaded.start(now).delay, 15s) << "the hold survives a reload";
}

TEST_F(machine_test, a_login_within_one_process_is_spaced_from_its_stamp_only) {
    auto s = test_settings();
    s.login_min_interval = 10s;
    lifecycle_machine m(s, [] { return 0.0; });
    m.start(now);
    m.on_call_started(now);
    const directive d = m.on_outcome(failed(step::oauth, failure::server_error, 503), now + 5ms);
    EXPECT_EQ(d.next, step::oauth);
    EXPECT_EQ(d.delay, 10s - 5ms) << "its own call ended: no allowance for a request still on its way";
}

}  // namespace
}  // namespace sessiond::testing
