// What multi-user mode's audit log records of a session's changes.

#include "sessiond/app/multi_user_sessions.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sessiond {
namespace {

std::vector<std::string> actions(const std::vector<session_audit_event>& events) {
    std::vector<std::string> out;
    for (const auto& e : events) out.push_back(e.action + ":" + e.outcome);
    return out;
}

session_snapshot snapshot(lifecycle state, std::uint64_t logins) {
    session_snapshot s;
    s.state = state;
    s.counters.logins = logins;
    return s;
}

TEST(session_audit, a_login_is_recorded_when_the_count_grows_and_says_the_key_was_decrypted_for_it) {
    const auto events = session_audit_events(0, lifecycle::connecting, snapshot(lifecycle::connected, 1));
    ASSERT_EQ(actions(events), std::vector<std::string>{"session.login:ok"});
    EXPECT_EQ(events[0].details.at("key"), "decrypted for the login's signatures");
    EXPECT_TRUE(session_audit_events(1, lifecycle::connected, snapshot(lifecycle::connected, 1)).empty());
}

// Found running a multi-user daemon by hand: a user added and the daemon stopped before the
// session's first login (its budget holds it 10 s after the credential's proof) was recorded as
// "session.logout: ok", though no IBKR session existed and no logout was sent.
TEST(session_audit, a_stop_is_a_logout_only_when_the_session_ever_logged_in) {
    EXPECT_EQ(actions(session_audit_events(0, lifecycle::throttled, snapshot(lifecycle::stopped, 0))),
              std::vector<std::string>{"session.stop:not logged in"});
    EXPECT_EQ(actions(session_audit_events(2, lifecycle::connected, snapshot(lifecycle::stopped, 2))),
              std::vector<std::string>{"session.logout:ok"});
}

TEST(session_audit, a_halt_is_recorded_with_its_reason_once) {
    session_snapshot halted = snapshot(lifecycle::halted, 0);
    halted.halt_reason = "the key does not match";
    const auto events = session_audit_events(0, lifecycle::connecting, halted);
    ASSERT_EQ(actions(events), std::vector<std::string>{"session.halt:halted"});
    EXPECT_EQ(events[0].details.at("reason"), "the key does not match");
    EXPECT_TRUE(session_audit_events(0, lifecycle::halted, halted).empty());
}

}  // namespace
}  // namespace sessiond

namespace sessiond {
namespace {

// When a replica gives a user back for IBKR being out of reach from its host.
TEST(unreachable_from_here, five_failed_connections_in_a_row_outside_maintenance_and_not_ibkrs_refusals) {
    session_snapshot s;
    s.state = lifecycle::reconnecting;
    s.consecutive_failures = 5;
    s.last_error = session_error{step::tickle, failure::timeout, 0, "connect timed out", {}};
    EXPECT_TRUE(unreachable_from_here(s));
    s.last_error->kind = failure::transport;
    EXPECT_TRUE(unreachable_from_here(s));
    s.last_error->kind = failure::tls;
    EXPECT_TRUE(unreachable_from_here(s));
    for (const failure refusal : {failure::unauthorized, failure::forbidden, failure::rate_limited, failure::server_error}) {
        s.last_error->kind = refusal;
        EXPECT_FALSE(unreachable_from_here(s)) << "another replica would hear the same from IBKR";
    }
    s.last_error->kind = failure::transport;
    s.consecutive_failures = 4;
    EXPECT_FALSE(unreachable_from_here(s));
    s.consecutive_failures = 9;
    s.maintenance = maintenance_window{};
    EXPECT_FALSE(unreachable_from_here(s)) << "IBKR's maintenance: expected everywhere";
    s.maintenance.reset();
    s.state = lifecycle::connected;
    EXPECT_FALSE(unreachable_from_here(s));
}

}  // namespace
}  // namespace sessiond
