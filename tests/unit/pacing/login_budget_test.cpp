#include "sessiond/pacing/login_budget.hpp"

#include "budget_test_times.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sessiond {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

using budget_test::limits;
using budget_test::t0;

// per_hour logins, spaced exactly as far apart as allowed, starting at `start`; returns the last.
wall_time fill(login_budget& b, wall_time start) {
    wall_time at = start;
    for (int i = 0; i < b.limits().per_hour; ++i) {
        if (i > 0) at = b.next_allowed(at);
        b.record(at);
    }
    return at;
}

TEST(login_budget, a_fresh_budget_allows_a_login_at_once) {
    const login_budget b({});
    EXPECT_TRUE(b.allows(t0));
    EXPECT_EQ(b.next_allowed(t0), t0);
    EXPECT_TRUE(b.recent().empty());
}

TEST(login_budget, defaults_are_ten_seconds_apart_and_thirty_an_hour) {
    const login_budget b({});
    EXPECT_EQ(b.limits().min_spacing, 10s);
    EXPECT_EQ(b.limits().per_hour, 30);
}

TEST(login_budget, a_second_login_waits_for_the_minimum_spacing) {
    login_budget b({});
    b.record(t0);
    EXPECT_FALSE(b.allows(t0));
    EXPECT_FALSE(b.allows(t0 + 9'999ms));
    EXPECT_EQ(b.next_allowed(t0 + 3s), t0 + 10s);
    EXPECT_EQ(b.next_allowed(t0 + 9'999ms), t0 + 10s);
}

TEST(login_budget, a_login_exactly_the_minimum_spacing_after_the_last_is_allowed) {
    login_budget b({});
    b.record(t0);
    EXPECT_TRUE(b.allows(t0 + 10s));
    EXPECT_EQ(b.next_allowed(t0 + 10s), t0 + 10s);
    EXPECT_EQ(b.next_allowed(t0 + 1min), t0 + 1min);
}

TEST(login_budget, the_spacing_counts_from_the_latest_login) {
    login_budget b({});
    b.record(t0);
    b.record(t0 + 15s);
    EXPECT_EQ(b.next_allowed(t0 + 16s), t0 + 25s);
}

TEST(login_budget, per_hour_logins_close_the_window_until_the_oldest_is_an_hour_old) {
    login_budget b(limits(10s, 30));
    const wall_time last = fill(b, t0);
    EXPECT_EQ(last, t0 + 29 * 10s) << "spacing alone paces the first per_hour logins";
    EXPECT_EQ(b.recent().size(), 30u);
    EXPECT_FALSE(b.allows(last + 10s));
    EXPECT_EQ(b.next_allowed(last + 10s), t0 + 1h);
    EXPECT_FALSE(b.allows(t0 + 1h - 1ms));
}

TEST(login_budget, a_login_exactly_an_hour_after_the_oldest_counted_is_allowed) {
    login_budget b(limits(10s, 30));
    fill(b, t0);
    EXPECT_TRUE(b.allows(t0 + 1h)) << "a login made exactly an hour ago has left the window";
}

TEST(login_budget, the_hourly_window_slides_one_login_at_a_time) {
    login_budget b(limits(1s, 3));
    b.record(t0);
    b.record(t0 + 10min);
    b.record(t0 + 20min);
    EXPECT_EQ(b.next_allowed(t0 + 21min), t0 + 60min);
    b.record(t0 + 60min);
    EXPECT_EQ(b.next_allowed(t0 + 60min), t0 + 70min) << "now the login at +10 min is the oldest counted";
    b.record(t0 + 70min);
    EXPECT_EQ(b.next_allowed(t0 + 70min), t0 + 80min);
    EXPECT_TRUE(b.allows(t0 + 80min));
}

TEST(login_budget, never_more_than_per_hour_logins_in_any_hour_when_logging_in_as_soon_as_allowed) {
    login_budget b(limits(10s, 30));
    std::vector<wall_time> made;
    wall_time now = t0;
    for (int i = 0; i < 200; ++i) {
        now = b.next_allowed(now);
        b.record(now);
        made.push_back(now);
    }
    for (std::size_t i = 0; i < made.size(); ++i) {
        int in_window = 0;
        for (std::size_t j = 0; j <= i; ++j)
            if (made[j] > made[i] - 1h) ++in_window;
        EXPECT_LE(in_window, 30) << "at login " << i;
        if (i > 0) {
            EXPECT_GE(made[i] - made[i - 1], 10s);
        }
    }
}

TEST(login_budget, the_later_of_the_two_rules_wins) {
    login_budget b(limits(5min, 2));
    b.record(t0);
    b.record(t0 + 59min);
    // The hourly rule opens at t0 + 1h, the spacing rule only at t0 + 64 min.
    EXPECT_EQ(b.next_allowed(t0 + 59min), t0 + 64min);
}

TEST(login_budget, logins_older_than_an_hour_are_forgotten) {
    login_budget b(limits(10s, 30));
    b.record(t0);
    b.record(t0 + 30min);
    b.record(t0 + 1h);
    ASSERT_EQ(b.recent().size(), 2u) << "the login exactly an hour before the newest is dropped";
    EXPECT_EQ(b.recent().front(), t0 + 30min);
    b.advance(t0 + 3h);
    EXPECT_TRUE(b.recent().empty());
}

TEST(login_budget, memory_stays_bounded_however_often_a_login_is_recorded) {
    login_budget b(limits(10s, 30));
    for (int i = 0; i < 10'000; ++i) {
        b.record(t0 + i * 1ms);  // far more often than allowed: recorded anyway, it happened
        ASSERT_LE(b.recent().size(), 30u);
    }
    EXPECT_EQ(b.recent().size(), 30u);
    EXPECT_EQ(b.recent().back(), t0 + 9'999ms);
    EXPECT_EQ(b.recent().front(), t0 + 9'970ms);
    EXPECT_EQ(b.next_allowed(t0 + 10s), t0 + 9'970ms + 1h);
}

TEST(login_budget, recent_is_oldest_first) {
    login_budget b({});
    b.record(t0);
    b.record(t0 + 20s);
    b.record(t0 + 40s);
    EXPECT_EQ(b.recent(), (time_points{t0, t0 + 20s, t0 + 40s}));
}

TEST(login_budget, lowering_per_hour_forgets_the_oldest_logins_and_applies_at_once) {
    login_budget b(limits(10s, 30));
    for (int i = 0; i < 10; ++i) b.record(t0 + i * 1min);
    EXPECT_TRUE(b.allows(t0 + 10min));
    b.reconfigure(limits(10s, 4));
    ASSERT_EQ(b.recent().size(), 4u);
    EXPECT_EQ(b.recent().front(), t0 + 6min);
    EXPECT_EQ(b.next_allowed(t0 + 10min), t0 + 66min);
}

TEST(login_budget, raising_per_hour_reopens_the_window) {
    login_budget b(limits(10s, 3));
    fill(b, t0);
    EXPECT_FALSE(b.allows(t0 + 1min));
    b.reconfigure(limits(10s, 30));
    EXPECT_TRUE(b.allows(t0 + 1min));
}

TEST(login_budget, a_new_spacing_applies_to_the_last_login) {
    login_budget b(limits(10s, 30));
    b.record(t0);
    b.reconfigure(limits(2min, 30));
    EXPECT_EQ(b.next_allowed(t0 + 10s), t0 + 2min);
    b.reconfigure(limits(1s, 30));
    EXPECT_TRUE(b.allows(t0 + 1s));
}

TEST(login_budget, settings_out_of_range_are_read_as_the_nearest_sane_value) {
    login_budget b(limits(-5s, 0));
    EXPECT_EQ(b.limits().min_spacing, 0ms);
    EXPECT_EQ(b.limits().per_hour, 1) << "a budget never forbids logging in for good";
    b.record(t0);
    EXPECT_EQ(b.next_allowed(t0), t0 + 1h);
    b.reconfigure(limits(10s, -3));
    EXPECT_EQ(b.limits().per_hour, 1);
}

TEST(login_budget, a_clock_stepped_back_counts_later_logins_as_just_now) {
    login_budget b(limits(10s, 30));
    b.record(t0);
    const wall_time now = t0 - 24h;
    EXPECT_EQ(b.next_allowed(now), now + 10s) << "neither unlocked nor blocked for a day";
    b.advance(now);
    EXPECT_EQ(b.recent().back(), now);
    EXPECT_TRUE(b.allows(now + 10s));
}

TEST(login_budget, a_clock_stepped_back_does_not_unlock_a_full_window) {
    login_budget b(limits(10s, 30));
    fill(b, t0);
    const wall_time now = t0 - 24h;
    EXPECT_EQ(b.next_allowed(now), now + 1h);
    b.advance(now);
    EXPECT_FALSE(b.allows(now + 1h - 1ms));
    EXPECT_TRUE(b.allows(now + 1h)) << "once advanced, the window drains in an hour of the new clock";
}

TEST(login_budget, recording_an_earlier_time_than_the_last_keeps_the_record_ordered) {
    login_budget b(limits(10s, 30));
    b.record(t0 + 1min);
    b.record(t0);  // the clock stepped back a minute
    EXPECT_EQ(b.recent(), (time_points{t0, t0}));
    EXPECT_EQ(b.next_allowed(t0), t0 + 10s);
}

TEST(login_budget, a_restored_login_an_hour_old_is_forgotten_and_one_from_the_future_is_now) {
    login_budget b(limits(10s, 30));
    b.add_restored(t0 - 1h, t0);
    b.add_restored(t0 - 1h + 1ms, t0);
    b.add_restored(t0 + 1h, t0);
    EXPECT_EQ(b.recent(), (time_points{t0 - 1h + 1ms, t0}));
}

}  // namespace
}  // namespace sessiond

namespace sessiond {
namespace {

// Replicas read the shared record before every session start: what this replica already counted
// is not counted again, what another replica added is.
TEST(login_budget, a_shared_record_read_again_adds_only_the_logins_not_yet_counted) {
    using namespace std::chrono_literals;
    const wall_time t0{std::chrono::hours(24 * 365 * 56)};
    login_budget mine({});
    mine.record(t0);
    login_budget shared({});
    shared.record(t0);
    shared.record(t0 + 20s);  // another replica's login
    mine.merge_new(shared);
    mine.merge_new(shared);
    ASSERT_EQ(mine.recent().size(), 2u);
    EXPECT_EQ(mine.recent().front(), t0);
    EXPECT_EQ(mine.recent().back(), t0 + 20s);
    login_budget doubled({});
    doubled.record(t0);
    doubled.merge(shared);
    EXPECT_EQ(doubled.recent().size(), 3u) << "merge() adds a replaced session's record as it is";
}

}  // namespace
}  // namespace sessiond
