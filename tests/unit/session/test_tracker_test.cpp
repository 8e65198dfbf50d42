// A connection test as the session runs it: the machine makes the calls, the tracker reports them.

#include "sessiond/session/test_tracker.hpp"

#include "unit/session/machine_harness.hpp"

namespace sessiond {
namespace {

using namespace sessiond::testing;
using result_t = test_step_report::result_t;

class tracker_test : public machine_test {
protected:
    // Feeds the outcome to the machine, then to the tracker; returns whether the report is complete.
    bool feed_both(step_outcome o) {
        step_outcome copy = o;
        feed(std::move(o));
        return tracker->on_outcome(copy, snap());
    }

    void begin_test() {
        tracker.emplace(snap());
        last = machine.on_test_requested(now);
    }

    result_t result_of(std::size_t i) const { return tracker->report().steps.at(i).result; }

    std::optional<test_tracker> tracker;
};

TEST_F(tracker_test, a_connected_session_is_verified_with_a_tickle_without_logging_in_again) {
    connect();
    now += 30s;  // halfway to the next tickle
    begin_test();
    EXPECT_TRUE(tracker->verifying());
    EXPECT_EQ(last.next, step::tickle);
    EXPECT_EQ(last.delay, 0ms) << "the tickle interval is skipped (the last tickle was over a second ago)";
    EXPECT_TRUE(feed_both(tickled()));
    const auto& r = tracker->report();
    EXPECT_TRUE(r.passed());
    for (std::size_t i = 0; i < 2; ++i) EXPECT_NE(r.steps[i].detail.find("held by the running session"), std::string::npos);
    EXPECT_EQ(r.steps[2].detail, "paper login");
    EXPECT_EQ(r.steps[3].detail, "brokerage session authenticated (verified with a tickle)");
    EXPECT_EQ(snap().counters.login_attempts, 1u);
}

TEST_F(tracker_test, verifying_a_session_that_turns_out_dead_fails_init) {
    connect();
    now += 30s;
    begin_test();
    EXPECT_TRUE(feed_both(tickled(status(false, true, false))));
    EXPECT_FALSE(tracker->report().passed());
    EXPECT_EQ(tracker->report().failed_step(), "init");
    EXPECT_NE(tracker->report().steps[3].detail.find("brokerage session not authenticated"), std::string::npos);
}

TEST_F(tracker_test, a_session_in_backoff_runs_its_login_now_and_reports_each_step) {
    start();
    feed(failed(step::oauth, failure::server_error, 503));
    feed(failed(step::oauth, failure::server_error, 503));
    EXPECT_EQ(last.delay, 4s);
    begin_test();
    EXPECT_EQ(last.next, step::oauth);
    EXPECT_EQ(last.delay, 0ms) << "the backoff wait is skipped";
    EXPECT_FALSE(feed_both(ok(step::oauth)));
    EXPECT_FALSE(feed_both(ok(step::sso)));
    EXPECT_FALSE(feed_both(validated()));
    EXPECT_FALSE(feed_both(initialised()));
    EXPECT_FALSE(feed_both(listed()));
    EXPECT_TRUE(feed_both(tickled()));
    const auto& r = tracker->report();
    EXPECT_TRUE(r.passed());
    EXPECT_EQ(r.steps[0].http_status, 200);
    EXPECT_EQ(r.steps[3].duration, 15ms) << "init, accounts and the tickle together";
}

TEST_F(tracker_test, the_report_ends_at_the_first_failing_step) {
    start();
    feed(failed(step::oauth, failure::server_error, 503));
    begin_test();
    EXPECT_FALSE(feed_both(ok(step::oauth)));
    EXPECT_TRUE(feed_both(failed(step::sso, failure::forbidden, 403)));
    const auto& r = tracker->report();
    EXPECT_EQ(r.failed_step(), "sso");
    EXPECT_EQ(r.steps[1].http_status, 403);
    EXPECT_NE(r.steps[1].detail.find("IBKR_ALLOWED_IP"), std::string::npos) << "with the guide's troubleshooting hint";
    EXPECT_EQ(result_of(2), result_t::skipped);
    EXPECT_EQ(result_of(3), result_t::skipped);
}

TEST_F(tracker_test, steps_the_session_already_holds_are_reported_as_held) {
    run_until(step::init);
    feed(failed(step::init, failure::server_error, 500));
    begin_test();
    EXPECT_EQ(last.next, step::init);
    EXPECT_EQ(result_of(0), result_t::passed);
    EXPECT_EQ(result_of(2), result_t::passed);
    feed_both(initialised());
    feed_both(listed());
    EXPECT_TRUE(feed_both(tickled()));
    EXPECT_TRUE(tracker->report().passed());
    EXPECT_EQ(snap().counters.login_attempts, 1u);
}

TEST_F(tracker_test, a_halt_during_the_test_ends_it_at_that_step_with_the_reason) {
    start();
    feed(failed(step::oauth, failure::timeout));
    begin_test();
    feed_both(ok(step::oauth));
    feed_both(ok(step::sso));
    EXPECT_TRUE(feed_both(validated(ibkr_environment::live)));
    EXPECT_EQ(tracker->report().failed_step(), "validate");
    EXPECT_NE(tracker->report().steps[2].detail.find("IBKR reports a live login but IBKR_ENV=paper"), std::string::npos);
}

TEST_F(tracker_test, an_account_missing_fails_init_with_the_reason) {
    start();
    feed(failed(step::oauth, failure::timeout));
    begin_test();
    feed_both(ok(step::oauth));
    feed_both(ok(step::sso));
    feed_both(validated());
    feed_both(initialised());
    EXPECT_TRUE(feed_both(listed({"DU999"})));
    EXPECT_EQ(tracker->report().failed_step(), "init");
    EXPECT_NE(tracker->report().steps[3].detail.find("is not among the accounts"), std::string::npos);
}

TEST_F(tracker_test, a_429_penalty_is_not_skipped_and_the_report_says_when) {
    connect();
    feed(failed(step::tickle, failure::rate_limited, 429));
    begin_test();
    EXPECT_EQ(last.next, step::tickle);
    EXPECT_GT(last.delay, 14min) << "a test never skips a 429 penalty";
    tracker->not_now(last.next, last.delay);
    EXPECT_TRUE(tracker->complete());
    EXPECT_FALSE(tracker->report().passed());
    EXPECT_NE(tracker->report().steps[3].detail.find("waiting out a 429 penalty"), std::string::npos)
        << tracker->report().steps[3].detail;
}

TEST_F(tracker_test, a_test_login_within_validates_minute_defers_validate_and_says_so) {
    run_until(step::tickle);
    feed(failed(step::tickle, failure::unauthorized, 401));  // login again, 3 s after the last validate
    feed(ok(step::oauth));
    feed(failed(step::sso, failure::server_error, 500));
    begin_test();
    EXPECT_EQ(last.next, step::oauth);
    feed_both(ok(step::oauth));
    feed_both(ok(step::sso));
    EXPECT_EQ(last.next, step::init) << "the test does not break IBKR's one-validate-per-minute rule";
    EXPECT_FALSE(feed_both(initialised()));
    EXPECT_FALSE(feed_both(listed()));
    EXPECT_TRUE(feed_both(tickled()));
    const auto& r = tracker->report();
    EXPECT_TRUE(r.passed());
    EXPECT_EQ(r.steps[2].http_status, 0) << "no validate call was made";
    EXPECT_NE(r.steps[2].detail.find("deferred until "), std::string::npos) << r.steps[2].detail;
    EXPECT_NE(r.steps[2].detail.find("paper login confirmed by /iserver/accounts isPaper"), std::string::npos)
        << r.steps[2].detail;
    EXPECT_EQ(last.next, step::validate) << "the deferred validate is still to come";
}

TEST_F(tracker_test, without_is_paper_a_test_does_not_pass_before_the_deferred_validate) {
    run_until(step::tickle);
    feed(failed(step::tickle, failure::unauthorized, 401));
    feed(ok(step::oauth));
    feed(failed(step::sso, failure::server_error, 500));
    begin_test();
    feed_both(ok(step::oauth));
    feed_both(ok(step::sso));
    feed_both(initialised());
    feed_both(listed_without_is_paper());
    EXPECT_FALSE(feed_both(tickled())) << "authenticated, but paper/live is not confirmed";
    EXPECT_EQ(last.next, step::validate);
    EXPECT_GT(last.delay, 40s);
    tracker->not_now(last.next, last.delay);  // what the session does with a wait that long
    EXPECT_FALSE(tracker->report().passed());
    EXPECT_EQ(tracker->report().failed_step(), "validate");
    EXPECT_EQ(result_of(3), result_t::passed) << tracker->report().steps[3].detail;
}

TEST_F(tracker_test, a_connected_session_with_a_deferred_validate_due_is_verified_with_a_tickle) {
    run_until(step::tickle);
    feed(failed(step::tickle, failure::unauthorized, 401));
    log_in_again_within_validates_minute();
    ASSERT_EQ(snap().state, lifecycle::connected);
    ASSERT_EQ(last.next, step::validate);
    now += 2s;  // past the tickle pace
    begin_test();
    EXPECT_TRUE(tracker->verifying());
    EXPECT_EQ(last.next, step::tickle);
    EXPECT_EQ(last.delay, 0ms);
    EXPECT_TRUE(feed_both(tickled()));
    EXPECT_TRUE(tracker->report().passed());
    EXPECT_NE(tracker->report().steps[2].detail.find("confirmed by /iserver/accounts isPaper"), std::string::npos)
        << tracker->report().steps[2].detail;
}

TEST_F(tracker_test, the_settle_after_init_is_not_skipped) {
    run_until(step::init);
    feed(initialised());
    EXPECT_EQ(last.next, step::accounts);
    now += 1s;
    begin_test();
    EXPECT_EQ(last.next, step::accounts);
    EXPECT_EQ(last.delay, 2s);
}

TEST_F(tracker_test, stopping_ends_the_report) {
    start();
    begin_test();
    tracker->on_stopping();
    EXPECT_TRUE(tracker->complete());
    EXPECT_EQ(tracker->report().steps[0].detail, "the daemon is stopping");
}

}  // namespace
}  // namespace sessiond
