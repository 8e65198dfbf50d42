#include "sessiond/ibkr/claims.hpp"

#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

#include <chrono>

namespace sessiond {
namespace {

constexpr sys_seconds at(std::int64_t epoch) { return sys_seconds(std::chrono::seconds(epoch)); }

TEST(ibkr_claims, client_assertion_has_exactly_the_claims_of_the_ibkr_samples) {
    const auto c = client_assertion_claims("TESTCLIENT01", at(1760000000));
    EXPECT_EQ(boost::json::serialize(c),
              R"({"iss":"TESTCLIENT01","sub":"TESTCLIENT01","aud":"/token","iat":1759999990,"exp":1760000020})");
}

TEST(ibkr_claims, client_assertion_audience_is_the_literal_token_path) {
    EXPECT_EQ(client_assertion_claims("c", at(0)).at("aud").as_string(), "/token");
}

TEST(ibkr_claims, client_assertion_is_backdated_and_short_lived) {
    const auto c = client_assertion_claims("c", at(1000));
    EXPECT_EQ(c.at("iat").as_int64(), 1000 - assertion_backdate.count());
    EXPECT_EQ(c.at("exp").as_int64(), 1000 + assertion_lifetime.count());
    EXPECT_EQ(assertion_backdate, std::chrono::seconds(10));
    EXPECT_EQ(assertion_lifetime, std::chrono::seconds(20));
}

TEST(ibkr_claims, client_assertion_has_no_jti_and_no_scope) {
    const auto c = client_assertion_claims("c", at(1000));
    EXPECT_FALSE(c.contains("jti"));
    EXPECT_FALSE(c.contains("scope"));
    EXPECT_EQ(c.size(), 5u);
}

TEST(ibkr_claims, sso_request_has_exactly_the_claims_of_the_ibkr_samples) {
    const auto c = sso_session_claims("TESTCLIENT01", "paperuser123", "203.0.113.7", at(1760000000));
    EXPECT_EQ(boost::json::serialize(c),
              R"({"ip":"203.0.113.7","credential":"paperuser123","iss":"TESTCLIENT01","iat":1760000000,"exp":1760086400})");
}

TEST(ibkr_claims, sso_request_has_no_audience_and_no_subject) {
    const auto c = sso_session_claims("c", "u", "2001:db8::7", at(1000));
    EXPECT_FALSE(c.contains("aud"));
    EXPECT_FALSE(c.contains("sub"));
    EXPECT_FALSE(c.contains("maxAge"));
    EXPECT_EQ(c.at("ip").as_string(), "2001:db8::7");
    EXPECT_EQ(c.at("exp").as_int64() - c.at("iat").as_int64(), sso_request_lifetime.count());
    EXPECT_EQ(sso_request_lifetime, std::chrono::hours(24));
}

// A login's request goes at its claimed turn, never before; the turn is claimed once, and a token
// assertion that would wait past half its life is signed again shortly before the turn instead.
TEST(login_send_plan, a_turn_within_half_the_assertions_life_is_kept_without_signing_again) {
    const std::chrono::system_clock::time_point signed_at{std::chrono::seconds(1'000)};
    for (const auto wait : {std::chrono::seconds(0), std::chrono::seconds(3), std::chrono::seconds(9)}) {
        const login_send_plan plan = plan_login_send(true, signed_at, signed_at + wait);
        EXPECT_FALSE(plan.sign_again_at) << wait.count();
        EXPECT_EQ(plan.send_at, signed_at + wait);
    }
    // A turn already past: at once.
    EXPECT_EQ(plan_login_send(true, signed_at, signed_at - std::chrono::seconds(5)).send_at, signed_at);
}

TEST(login_send_plan, a_token_request_far_back_in_the_queue_is_signed_again_before_its_turn_not_queued_again) {
    const std::chrono::system_clock::time_point signed_at{std::chrono::seconds(1'000)};
    // 500 s: 10,000 logins queued 0.05 s apart, as a start of 10,000 users behind a busy worker did.
    for (const auto wait : {assertion_lifetime / 2, std::chrono::seconds(60), std::chrono::seconds(500)}) {
        const login_send_plan plan = plan_login_send(true, signed_at, signed_at + wait);
        EXPECT_EQ(plan.send_at, signed_at + wait) << "the same turn, not a new one";
        ASSERT_TRUE(plan.sign_again_at) << wait.count();
        EXPECT_EQ(*plan.sign_again_at, plan.send_at - resign_lead);
        // Sent with an assertion at most resign_lead old (plus the worker's delay): well inside its life.
        EXPECT_LT(resign_lead, assertion_lifetime / 2);
    }
    // The SSO request's JWT lives a day: it waits for its turn as signed.
    const login_send_plan sso = plan_login_send(false, signed_at, signed_at + std::chrono::seconds(500));
    EXPECT_FALSE(sso.sign_again_at);
    EXPECT_EQ(sso.send_at, signed_at + std::chrono::seconds(500));
}

}  // namespace
}  // namespace sessiond
