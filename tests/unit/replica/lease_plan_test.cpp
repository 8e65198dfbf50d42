// The replica's lease rules: when a lease may still be used for an IBKR call, how many users a
// replica holds, and which timings are refused.

#include "sessiond/replica/lease_plan.hpp"

#include <gtest/gtest.h>

namespace sessiond {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

TEST(lease_plan, a_lease_is_usable_until_its_renewal_was_sent_plus_the_ttl_less_the_margin) {
    const lease_timing t;  // ttl 30 s, margin 12 s
    const steady::time_point sent{};
    EXPECT_TRUE(lease_usable(sent, sent, t));
    EXPECT_TRUE(lease_usable(sent, sent + 17999ms, t));
    EXPECT_FALSE(lease_usable(sent, sent + 18s, t));
    EXPECT_FALSE(lease_usable(sent, sent + 1h, t));
}

TEST(lease_plan, the_defaults_are_safe_with_the_default_http_timeout_and_take_over_within_45_s) {
    const lease_timing t;
    EXPECT_TRUE(check_lease_timing(t, 10s));
    EXPECT_LE(takeover_bound(t) + 10s, 45s) << "with 10 s left for one login under the 45 s target";
}

TEST(lease_plan, the_timing_of_a_ttl_renews_every_sixth_and_keeps_a_margin_longer_than_a_call) {
    const lease_timing d = lease_timing_for(30s, 10s);  // SESSIOND_LEASE_TTL's default, IBKR_HTTP_TIMEOUT's
    EXPECT_EQ(d.ttl, 30s);
    EXPECT_EQ(d.renew_every, 5s);
    EXPECT_EQ(d.claim_every, 5s);
    EXPECT_EQ(d.margin, 12s) << "two fifths of the TTL, longer than a call";
    EXPECT_TRUE(check_lease_timing(d, 10s));

    const lease_timing tests = lease_timing_for(6s, 2s);  // the replica suites'
    EXPECT_EQ(tests.margin, 3s) << "the HTTP timeout and a second, where two fifths would be shorter";
    EXPECT_TRUE(check_lease_timing(tests, 2s));

    // A TTL too short for the HTTP timeout: the margin would eat the whole lease; refused by name.
    const auto refused = check_lease_timing(lease_timing_for(10s, 10s), 10s);
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message.find("must be longer than the renewal period"), std::string::npos)
        << refused.error().message;
}

TEST(lease_plan, a_margin_no_longer_than_a_call_or_a_window_shorter_than_a_renewal_is_refused) {
    lease_timing t;
    auto r = check_lease_timing(t, 12s);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("margin (12000 ms) must be longer than the HTTP timeout (12000 ms)"),
              std::string::npos)
        << r.error().message;
    t.renew_every = 18s;
    r = check_lease_timing(t, 10s);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("renewal period (18000 ms)"), std::string::npos) << r.error().message;
}

TEST(lease_plan, each_replica_holds_its_fair_share_rounded_up) {
    EXPECT_EQ(fair_share(10000, 3), 3334u);
    EXPECT_EQ(fair_share(9, 3), 3u);
    EXPECT_EQ(fair_share(1, 3), 1u);
    EXPECT_EQ(fair_share(0, 3), 0u);
    EXPECT_EQ(fair_share(7, 0), 7u) << "alone (its own heartbeat not seen yet): all of them";
}

TEST(lease_plan, a_round_claims_up_to_the_share_in_batches_or_hands_the_surplus_back) {
    EXPECT_EQ(plan_claim_round(0, 10000, 1, 500).claim, 500u);
    EXPECT_EQ(plan_claim_round(9800, 10000, 1, 500).claim, 200u);
    EXPECT_EQ(plan_claim_round(10000, 10000, 1, 500).claim, 0u);
    // A second replica joined: half goes back, none claimed.
    const claim_step joined = plan_claim_round(10000, 10000, 2, 500);
    EXPECT_EQ(joined.claim, 0u);
    EXPECT_EQ(joined.hand_back, 5000u);
}

}  // namespace
}  // namespace sessiond

namespace sessiond {
namespace {

using namespace std::chrono_literals;

TEST(lease_plan, a_user_unreachable_from_here_goes_back_on_a_coin_toss_when_another_replica_is_live) {
    EXPECT_TRUE(give_back_unreachable(1, 0.49));
    EXPECT_FALSE(give_back_unreachable(1, 0.5)) << "the other half of the toss keeps it this round";
    EXPECT_FALSE(give_back_unreachable(0, 0.0)) << "nobody else to take it";
    EXPECT_TRUE(give_back_unreachable(3, 0.0));
}

}  // namespace
}  // namespace sessiond
