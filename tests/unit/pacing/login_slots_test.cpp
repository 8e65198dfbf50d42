#include "sessiond/pacing/login_slots.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace sessiond {
namespace {

using namespace std::chrono_literals;
using tp = login_slots::clock::time_point;

const tp t0 = tp(std::chrono::seconds(1'700'000'000));

TEST(login_slots, a_burst_is_spread_one_interval_apart_in_one_run) {
    login_slots s(500ms);
    for (int i = 0; i < 1000; ++i) EXPECT_EQ(s.reserve(t0, t0), t0 + i * 500ms);
    EXPECT_EQ(s.runs(), 1u);
}

// Logins whose signatures come back all at once (the worker was held up) still go on the wire one
// interval apart; one that is ready after a quiet spell goes at once.
TEST(login_slots, signed_logins_released_together_go_on_the_wire_one_interval_apart) {
    login_slots s(40ms);
    using request = login_slots::request;
    for (int i = 0; i < 50; ++i) EXPECT_EQ(s.claim_send(request::token, t0), t0 + i * 40ms);
    EXPECT_EQ(s.claim_send(request::token, t0 + 10s), t0 + 10s);
    EXPECT_EQ(s.claim_send(request::token, t0 + 10s), t0 + 10s + 40ms);
    // SSO requests are spaced among themselves: a login's SSO request never waits for its own token's.
    EXPECT_EQ(s.claim_send(request::sso, t0 + 10s), t0 + 10s);
    EXPECT_EQ(s.claim_send(request::sso, t0 + 10s), t0 + 10s + 40ms);
    login_slots unspaced(0ms);
    EXPECT_EQ(unspaced.claim_send(request::token, t0), t0);
    EXPECT_EQ(unspaced.claim_send(request::token, t0), t0);
}

TEST(login_slots, a_login_far_ahead_holds_nobody_up_meanwhile) {
    login_slots s(1s);
    EXPECT_EQ(s.reserve(t0 + 1h, t0), t0 + 1h);  // its own budget allows it only then
    EXPECT_EQ(s.reserve(t0, t0), t0);
    EXPECT_EQ(s.reserve(t0, t0), t0 + 1s);
    // Just before the far one: only a whole interval fits before it.
    EXPECT_EQ(s.reserve(t0 + 1h - 500ms, t0), t0 + 1h + 1s);
    EXPECT_EQ(s.reserve(t0 + 1h - 1s, t0), t0 + 1h - 1s);
}

TEST(login_slots, gaps_between_runs_are_used_when_a_whole_interval_fits) {
    login_slots s(1s);
    EXPECT_EQ(s.reserve(t0, t0), t0);
    EXPECT_EQ(s.reserve(t0 + 2500ms, t0), t0 + 2500ms);
    EXPECT_EQ(s.runs(), 2u);
    EXPECT_EQ(s.reserve(t0 + 500ms, t0), t0 + 1s);       // [1 s, 2 s) fits before 2.5 s
    EXPECT_EQ(s.reserve(t0 + 500ms, t0), t0 + 3500ms);   // [2 s, 3 s) would not: after the second run
}

TEST(login_slots, what_has_ended_is_dropped_and_no_reservation_overlaps_another) {
    login_slots s(200ms);
    std::mt19937 random(7);
    std::vector<tp> granted;
    tp now = t0;
    for (int i = 0; i < 5000; ++i) {
        now += std::chrono::milliseconds(random() % 50);
        const tp want = now + std::chrono::milliseconds(random() % 5000);
        const tp got = s.reserve(want, now);
        EXPECT_GE(got, want);
        granted.push_back(got);
    }
    std::sort(granted.begin(), granted.end());
    for (std::size_t i = 1; i < granted.size(); ++i) ASSERT_GE(granted[i] - granted[i - 1], 200ms) << i;
    s.reserve(now + 24h, now + 12h);
    EXPECT_EQ(s.runs(), 1u);  // everything before the last one ended
}

TEST(login_slots, no_interval_means_no_spacing) {
    login_slots s(0ms);
    EXPECT_EQ(s.reserve(t0, t0), t0);
    EXPECT_EQ(s.reserve(t0, t0), t0);
}

}  // namespace
}  // namespace sessiond
