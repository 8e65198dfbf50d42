#pragma once
// Building blocks for tests of the session machine: settings with exact delays, outcomes of each
// step, and a fixture that drives the machine the way the session driver does.

#include "sessiond/session/lifecycle_machine.hpp"

#include <gtest/gtest.h>

namespace sessiond::testing {

using std::chrono::milliseconds;
using namespace std::chrono_literals;

inline machine_settings test_settings() {
    machine_settings s;
    s.tickle_interval = 60s;
    s.init_settle = 3s;
    s.http_timeout = 10s;
    s.backoff_initial = 2s;
    s.backoff_max = 300s;
    s.pace_tickle = 1s;
    s.pace_validate = 60s;
    s.rate_limit_penalty = 15min;
    // The login budget has its own tests (budget_test settings); elsewhere it stays out of the way.
    s.login_min_interval = 0ms;
    s.logins_per_hour = 1000;
    s.max_requests_per_second = 1000;
    s.compete = true;
    s.environment = ibkr_environment::paper;
    s.account_id = "DU1234567";
    return s;
}

inline step_outcome ok(step s) {
    step_outcome o;
    o.which = s;
    o.http_status = 200;
    o.duration = 5ms;
    return o;
}

inline step_outcome validated(std::optional<ibkr_environment> type = ibkr_environment::paper, bool result = true,
                       std::optional<milliseconds> expires = 600'000ms) {
    step_outcome o = ok(step::validate);
    o.validation = sso_validation{result, type, expires};
    return o;
}

inline brokerage_status status(bool authenticated, bool connected, bool competing) {
    brokerage_status b;
    b.authenticated = authenticated;
    b.connected = connected;
    b.competing = competing;
    b.server_name = "JifN19053";
    b.server_version = "Build 10.25.0p";
    return b;
}

inline step_outcome initialised(brokerage_status b = status(true, true, false)) {
    step_outcome o = ok(step::init);
    o.brokerage = b;
    return o;
}

// /iserver/accounts as IBKR (and ibkr-sim) answers it, with isPaper.
inline step_outcome listed(std::vector<std::string> accounts = {"DU1234567"},
                           std::optional<ibkr_environment> is_paper = ibkr_environment::paper) {
    step_outcome o = ok(step::accounts);
    o.accounts = account_list{std::move(accounts), {}, is_paper};
    return o;
}

inline step_outcome listed_without_is_paper() { return listed({"DU1234567"}, std::nullopt); }

inline step_outcome tickled(brokerage_status b = status(true, true, false), std::optional<milliseconds> sso = 500'000ms) {
    step_outcome o = ok(step::tickle);
    o.tickle = tickle_report{b, sso, {}};
    return o;
}

inline step_outcome failed(step s, failure kind, int http = 0, std::optional<std::chrono::seconds> retry_after = {}) {
    step_outcome o = failed_outcome(s, kind, "injected", http);
    o.retry_after = retry_after;
    o.duration = 5ms;
    return o;
}

// Drives a machine the way the session driver does: wait the directive's delay, start the call,
// feed its outcome.
class machine_test : public ::testing::Test {
protected:
    explicit machine_test(machine_settings s = test_settings()) : machine(std::move(s), [] { return 0.0; }) {}

    directive start() { return last = machine.start(now); }

    directive feed(step_outcome o) {
        EXPECT_FALSE(last.idle()) << "fed an outcome to an idle machine";
        EXPECT_EQ(o.which, last.next) << "outcome for " << to_string(o.which) << " but the machine asked for "
                                      << to_string(last.next);
        now += last.delay;
        machine.on_call_started(now);
        now += o.duration;
        return last = machine.on_outcome(o, now);
    }

    // Starts the machine and answers every call successfully until it asks for `target`.
    void run_until(step target) {
        start();
        while (last.next != target) {
            switch (last.next) {
                case step::oauth: feed(ok(step::oauth)); break;
                case step::sso: feed(ok(step::sso)); break;
                case step::validate: feed(validated()); break;
                case step::init: feed(initialised()); break;
                case step::accounts: feed(listed()); break;
                default: FAIL() << "the login flow never asked for " << to_string(target);
            }
        }
    }

    // After the SSO session was lost within IBKR's validate minute: the new login (validate deferred),
    // init, `accounts` and the first tickle, each answered successfully.
    void log_in_again_within_validates_minute(step_outcome accounts = listed()) {
        feed(ok(step::oauth));
        feed(ok(step::sso));
        feed(initialised());
        feed(std::move(accounts));
        feed(tickled());
    }

    void connect() {
        run_until(step::tickle);
        feed(tickled());
        ASSERT_EQ(machine.snapshot().state, lifecycle::connected);
    }

    static void expect_call(const directive& d, step s, milliseconds delay) {
        EXPECT_FALSE(d.idle());
        EXPECT_EQ(d.next, s) << "expected " << to_string(s) << ", got " << to_string(d.next);
        EXPECT_EQ(d.delay, delay) << "for " << to_string(s);
    }

    const session_snapshot& snap() const { return machine.snapshot(); }

    wall_time now = wall_clock::from_time_t(1'764'000'000);
    lifecycle_machine machine;
    directive last;
};

}  // namespace sessiond::testing
