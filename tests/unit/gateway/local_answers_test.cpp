#include "sessiond/gateway/local_answers.hpp"

#include <gtest/gtest.h>

namespace sessiond {
namespace {

const wall_time now = wall_time(std::chrono::seconds(1'800'000'000));

session_snapshot connected() {
    session_snapshot s;
    s.state = lifecycle::connected;
    s.brokerage.authenticated = true;
    s.brokerage.connected = true;
    s.brokerage.established = true;
    s.brokerage_reported = true;
    s.sso_expires_at = now + std::chrono::seconds(420);
    s.login_type = ibkr_environment::paper;
    return s;
}

TEST(local_answers, a_served_session_is_authenticated_in_ibkrs_tickle_shape) {
    const session_snapshot s = connected();
    const auto t = tickle_answer(&s, true, "abc123", now);
    EXPECT_EQ(t.at("session").as_string(), "abc123");
    EXPECT_EQ(t.at("ssoExpires").as_int64(), 420'000);
    EXPECT_EQ(t.at("collission").as_bool(), false);
    const auto& auth = t.at("iserver").at("authStatus").as_object();
    EXPECT_TRUE(auth.at("authenticated").as_bool());
    EXPECT_TRUE(auth.at("connected").as_bool());
    EXPECT_FALSE(auth.at("competing").as_bool());
    EXPECT_TRUE(auth.at("established").as_bool());
}

TEST(local_answers, a_session_the_daemon_does_not_serve_is_not_authenticated_and_says_why) {
    session_snapshot s = connected();
    s.state = lifecycle::reconnecting;
    s.reason = "tickle: HTTP 401";
    const auto a = auth_status_answer(&s, false);
    EXPECT_FALSE(a.at("authenticated").as_bool());
    EXPECT_FALSE(a.at("established").as_bool());
    EXPECT_EQ(a.at("message").as_string(), "tickle: HTTP 401");
    const auto none = auth_status_answer(nullptr, false);
    EXPECT_FALSE(none.at("authenticated").as_bool());
    EXPECT_FALSE(none.at("connected").as_bool());
}

TEST(local_answers, a_competing_session_is_reported_competing) {
    session_snapshot s = connected();
    s.state = lifecycle::competing;
    s.brokerage.competing = true;
    EXPECT_TRUE(auth_status_answer(&s, false).at("competing").as_bool());
    EXPECT_TRUE(tickle_answer(&s, false, "x", now).at("collission").as_bool());
}

TEST(local_answers, validate_reports_the_daemons_last_validate_without_the_username) {
    const session_snapshot s = connected();
    const auto v = validate_answer(&s, true, now);
    EXPECT_TRUE(v.at("RESULT").as_bool());
    EXPECT_EQ(v.at("LOGIN_TYPE").as_int64(), 2);
    EXPECT_EQ(v.at("EXPIRES").as_int64(), 420'000);
    EXPECT_EQ(v.if_contains("USER_NAME"), nullptr);
    EXPECT_FALSE(validate_answer(nullptr, false, now).at("RESULT").as_bool());
}

}  // namespace
}  // namespace sessiond
