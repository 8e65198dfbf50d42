// A login within IBKR's validate minute (IBKR ended the SSO session, a restart, a reload) does not
// wait for validate: init and /iserver/accounts come at once, isPaper checks paper/live, and validate
// follows as soon as IBKR allows it. Production pacing: logins 10 s apart, one validate a minute, a
// tickle every second (the pace the issue measured recovery with).

#include "machine_harness.hpp"

namespace sessiond::testing {
namespace {

machine_settings production_pacing() {
    machine_settings s = test_settings();
    s.tickle_interval = 1s;
    s.login_min_interval = 10s;
    s.logins_per_hour = 30;
    return s;
}

class deferred_validate : public machine_test {
protected:
    deferred_validate() : machine_test(production_pacing()) {}

    // Connected, then IBKR ends the SSO session: the next tickle gets 401. Returns when validate was
    // last called.
    wall_time connect_then_lose_the_sso_session() {
        connect();
        const wall_time validated_at = last_validate();
        feed(failed(step::tickle, failure::unauthorized, 401));
        EXPECT_LT(now - validated_at, 60s) << "the validate minute must still be running";
        return validated_at;
    }

    // After the 401: the new login, init, accounts (with isPaper) and a healthy tickle.
    void run_until_connected_again() {
        log_in_again_within_validates_minute();
        ASSERT_EQ(snap().state, lifecycle::connected);
    }

    // Answers each call with a healthy tickle until the machine asks for anything else.
    void tickle_until_something_else(int at_most = 120) {
        for (int i = 0; i < at_most && last.next == step::tickle; ++i) feed(tickled());
        ASSERT_NE(last.next, step::tickle) << "still only tickling after " << at_most << " tickles";
    }

    wall_time last_started(step s) const {
        return machine.pacer().last_start(endpoint_of(s).path).value_or(wall_time{});
    }
    wall_time last_validate() const { return last_started(step::validate); }
    // When the call the machine asked for will be made.
    wall_time next_call_at() const { return now + last.delay; }
    // When the next tickle is due by the interval and IBKR's tickle pace (1 s and its margin here).
    wall_time tickle_due() const { return std::max(now + 1s, last_started(step::tickle) + 1s + ibkr_pace_margin); }

    // The deferred validate comes no sooner than IBKR's minute allows, and no later than the end of
    // the tickle that may be in flight at that instant (5 ms here).
    void expect_validate_at(wall_time allowed) {
        ASSERT_EQ(last.next, step::validate);
        EXPECT_GE(next_call_at(), allowed);
        EXPECT_LE(next_call_at(), allowed + 5ms);
    }
};

TEST_F(deferred_validate, after_a_401_within_validates_minute_the_login_goes_on_without_validate) {
    const wall_time validated_at = connect_then_lose_the_sso_session();
    const wall_time lost_at = now;
    const step expected[] = {step::oauth, step::sso, step::init, step::accounts, step::tickle};
    for (const step s : expected) {
        ASSERT_EQ(last.next, s) << "expected " << to_string(s) << ", got " << to_string(last.next);
        EXPECT_LE(last.delay, 10s) << "no wait longer than the login spacing before " << to_string(s);
        switch (s) {
            case step::oauth: feed(ok(step::oauth)); break;
            case step::sso: feed(ok(step::sso)); break;
            case step::init: feed(initialised()); break;
            case step::accounts: feed(listed()); break;
            default: feed(tickled()); break;
        }
    }
    EXPECT_EQ(snap().state, lifecycle::connected);
    // The login spacing (from the last login), the settle after init, five calls of 5 ms.
    EXPECT_LE(now - lost_at, 10s + 3s + 25ms);
    EXPECT_EQ(snap().environment_checked_by, environment_check::accounts);
    EXPECT_EQ(snap().login_type, ibkr_environment::paper);
    EXPECT_EQ(last_validate(), validated_at) << "no validate in the recovery";
    EXPECT_EQ(snap().validate_deferred_until, validated_at + 60s + ibkr_pace_margin);
}

TEST_F(deferred_validate, the_deferred_validate_comes_at_the_instant_ibkrs_minute_allows_between_tickles) {
    const wall_time validated_at = connect_then_lose_the_sso_session();
    run_until_connected_again();
    tickle_until_something_else();
    expect_validate_at(validated_at + 60s + ibkr_pace_margin);
    EXPECT_EQ(snap().state, lifecycle::connected) << "isPaper confirmed paper/live: connected while validate waits";
    const wall_time tickle_was_due = tickle_due();
    const directive after = feed(validated());
    EXPECT_EQ(after.next, step::tickle);
    EXPECT_LE(now + after.delay, std::max(tickle_was_due, now)) << "the validate does not delay the tickles";
    EXPECT_EQ(snap().environment_checked_by, environment_check::validate);
    EXPECT_FALSE(snap().validate_deferred_until);
    EXPECT_EQ(snap().state, lifecycle::connected);
    feed(tickled());
    EXPECT_EQ(last.next, step::tickle) << "validated: tickles only, for the next minute at least";
}

TEST_F(deferred_validate, a_login_after_validates_minute_validates_first_as_before) {
    connect();
    now += 60s;
    feed(failed(step::tickle, failure::unauthorized, 401));
    feed(ok(step::oauth));
    expect_call(feed(ok(step::sso)), step::validate, 0ms);
    expect_call(feed(validated()), step::init, 0ms);
    EXPECT_FALSE(snap().validate_deferred_until);
}

TEST_F(deferred_validate, a_reload_that_changes_ibkr_env_but_not_the_username_validates_before_init) {
    connect();  // validated: a paper login
    machine_settings live = production_pacing();
    live.environment = ibkr_environment::live;
    lifecycle_machine reloaded(live, [] { return 0.0; }, machine.shared_pacer());
    const wall_time validate_allowed = last_validate() + 60s + ibkr_pace_margin;
    directive d = reloaded.start(now);
    now += d.delay;
    reloaded.on_call_started(now);
    reloaded.on_outcome(ok(step::oauth), now);
    reloaded.on_call_started(now);
    d = reloaded.on_outcome(ok(step::sso), now);
    EXPECT_EQ(d.next, step::validate) << "the last validate said paper: no init for IBKR_ENV=live before validate";
    EXPECT_EQ(now + d.delay, validate_allowed) << "and still within IBKR's minute";
    EXPECT_FALSE(reloaded.snapshot().validate_deferred_until);
}

TEST_F(deferred_validate, is_paper_for_the_other_environment_halts_and_logs_out) {
    connect_then_lose_the_sso_session();
    feed(ok(step::oauth));
    feed(ok(step::sso));
    feed(initialised());
    expect_call(feed(listed({"DU1234567"}, ibkr_environment::live)), step::logout, 0ms);
    EXPECT_EQ(snap().state, lifecycle::halted);
    EXPECT_NE(snap().halt_reason.find("IBKR reports a live login but IBKR_ENV=paper (/iserver/accounts isPaper=false)"),
              std::string::npos)
        << snap().halt_reason;
    EXPECT_FALSE(snap().validate_deferred_until);
    EXPECT_TRUE(feed(ok(step::logout)).idle()) << "no further calls";
}

TEST_F(deferred_validate, login_type_for_the_other_environment_in_the_deferred_validate_halts) {
    connect_then_lose_the_sso_session();
    run_until_connected_again();
    tickle_until_something_else();
    ASSERT_EQ(last.next, step::validate);
    expect_call(feed(validated(ibkr_environment::live)), step::logout, 0ms);
    EXPECT_EQ(snap().state, lifecycle::halted);
    EXPECT_NE(snap().halt_reason.find("IBKR reports a live login but IBKR_ENV=paper"), std::string::npos);
    EXPECT_TRUE(feed(ok(step::logout)).idle());
}

TEST_F(deferred_validate, without_is_paper_the_session_is_not_connected_before_the_validate) {
    const wall_time validated_at = connect_then_lose_the_sso_session();
    feed(ok(step::oauth));
    feed(ok(step::sso));
    feed(initialised());
    expect_call(feed(listed_without_is_paper()), step::tickle, 0ms);
    for (int i = 0; i < 120 && last.next == step::tickle; ++i) {
        feed(tickled());
        ASSERT_NE(snap().state, lifecycle::connected) << "paper/live is unconfirmed";
        ASSERT_TRUE(snap().waiting_for_environment_check());
        ASSERT_NE(snap().reason.find("paper/live not confirmed yet"), std::string::npos) << snap().reason;
    }
    expect_validate_at(validated_at + 60s + ibkr_pace_margin);
    EXPECT_EQ(snap().state, lifecycle::reconnecting);
    const directive after = feed(validated());
    EXPECT_EQ(after.next, step::tickle);
    EXPECT_LE(after.delay, 1s + ibkr_pace_margin) << "at once, as IBKR's tickle pace allows";
    feed(tickled());
    EXPECT_EQ(snap().state, lifecycle::connected);
    EXPECT_EQ(snap().environment_checked_by, environment_check::validate);
}

TEST_F(deferred_validate, a_deferred_validate_that_fails_keeps_the_session_and_is_retried_after_ibkrs_minute) {
    connect_then_lose_the_sso_session();
    run_until_connected_again();
    tickle_until_something_else();
    ASSERT_EQ(last.next, step::validate);
    const wall_time failed_validate = next_call_at();
    const wall_time tickle_was_due = tickle_due();
    const directive after = feed(failed(step::validate, failure::server_error, 503));
    EXPECT_EQ(after.next, step::tickle);
    EXPECT_LE(now + after.delay, std::max(tickle_was_due, now));
    EXPECT_EQ(snap().state, lifecycle::connected);
    EXPECT_EQ(snap().counters.reconnects, 1u) << "only the 401";
    tickle_until_something_else();
    expect_validate_at(failed_validate + 60s + ibkr_pace_margin);
}

TEST_F(deferred_validate, a_401_on_the_deferred_validate_means_a_new_login) {
    connect_then_lose_the_sso_session();
    run_until_connected_again();
    tickle_until_something_else();
    ASSERT_EQ(last.next, step::validate);
    EXPECT_EQ(feed(failed(step::validate, failure::unauthorized, 401)).next, step::oauth);
    EXPECT_FALSE(snap().validate_deferred_until);
    EXPECT_EQ(snap().environment_checked_by, environment_check::none);
}

TEST_F(deferred_validate, a_reinitialised_brokerage_session_is_checked_by_is_paper_again) {
    connect_then_lose_the_sso_session();
    run_until_connected_again();
    expect_call(feed(tickled(status(false, true, false))), step::init, 0ms);
    feed(initialised());
    expect_call(feed(listed({"DU1234567"}, ibkr_environment::live)), step::logout, 0ms);
    EXPECT_EQ(snap().state, lifecycle::halted);
}

}  // namespace
}  // namespace sessiond::testing
