// The sliding window behind every pacing rule of the simulator: the per-endpoint intervals (limit 1)
// and the per-user request rate (limit N per second). Time is given, never read.

#include "ibkr_sim/rate_limiter.hpp"

#include <gtest/gtest.h>

namespace sessiond::sim {
namespace {

using namespace std::chrono_literals;

const wall_time t0 = wall_time{} + 1'800'000'000s;

TEST(sliding_window_limiter, accepts_limit_calls_in_one_instant_and_refuses_the_next) {
    sliding_window_limiter limit(3, 1s);
    EXPECT_TRUE(limit.try_acquire(t0));
    EXPECT_TRUE(limit.try_acquire(t0));
    EXPECT_TRUE(limit.try_acquire(t0));
    EXPECT_FALSE(limit.try_acquire(t0));
}

TEST(sliding_window_limiter, a_call_exactly_one_window_old_no_longer_counts) {
    sliding_window_limiter limit(2, 1s);
    ASSERT_TRUE(limit.try_acquire(t0));
    ASSERT_TRUE(limit.try_acquire(t0 + 400ms));
    EXPECT_FALSE(limit.try_acquire(t0 + 999ms));
    EXPECT_TRUE(limit.try_acquire(t0 + 1000ms));   // t0 left the window
    EXPECT_FALSE(limit.try_acquire(t0 + 1399ms));  // t0+400ms and t0+1000ms are in it
    EXPECT_TRUE(limit.try_acquire(t0 + 1400ms));
}

TEST(sliding_window_limiter, refused_calls_do_not_move_the_window) {
    sliding_window_limiter limit(1, 1s);
    ASSERT_TRUE(limit.try_acquire(t0));
    for (auto t = t0 + 100ms; t < t0 + 1s; t += 100ms) EXPECT_FALSE(limit.try_acquire(t));
    EXPECT_TRUE(limit.try_acquire(t0 + 1s));
}

TEST(sliding_window_limiter, the_window_slides_rather_than_resetting_each_second) {
    sliding_window_limiter limit(10, 1s);
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(limit.try_acquire(t0 + 900ms));
    // A fixed window would start afresh at t0 + 1 s; the sliding one still holds the ten calls.
    EXPECT_FALSE(limit.try_acquire(t0 + 1100ms));
    EXPECT_FALSE(limit.try_acquire(t0 + 1899ms));
    EXPECT_TRUE(limit.try_acquire(t0 + 1900ms));
}

TEST(sliding_window_limiter, limit_one_is_the_minimum_interval_of_tickle_and_validate) {
    sliding_window_limiter validate(1, 60s);
    ASSERT_TRUE(validate.try_acquire(t0));
    EXPECT_FALSE(validate.try_acquire(t0 + 59s));
    EXPECT_TRUE(validate.try_acquire(t0 + 60s));
    EXPECT_FALSE(validate.try_acquire(t0 + 119'999ms));
}

TEST(sliding_window_limiter, a_zero_window_never_refuses) {
    sliding_window_limiter limit(1, 0s);
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(limit.try_acquire(t0));
}

TEST(sliding_window_limiter, a_clock_stepped_back_does_not_lock_the_caller_out) {
    sliding_window_limiter limit(2, 1s);
    ASSERT_TRUE(limit.try_acquire(t0));
    ASSERT_TRUE(limit.try_acquire(t0));
    EXPECT_TRUE(limit.try_acquire(t0 - 1h));  // the calls "in the future" are forgotten
    EXPECT_TRUE(limit.try_acquire(t0 - 1h));
    EXPECT_FALSE(limit.try_acquire(t0 - 1h));
}

}  // namespace
}  // namespace sessiond::sim
