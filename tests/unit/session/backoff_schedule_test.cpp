#include "sessiond/session/backoff_schedule.hpp"

#include <gtest/gtest.h>

namespace sessiond {
namespace {

using std::chrono::milliseconds;

TEST(backoff_schedule, doubles_from_the_initial_delay_up_to_the_cap) {
    const backoff_schedule b(milliseconds(2'000), milliseconds(300'000));
    EXPECT_EQ(b.base(0), milliseconds(0));
    EXPECT_EQ(b.base(1), milliseconds(2'000));
    EXPECT_EQ(b.base(2), milliseconds(4'000));
    EXPECT_EQ(b.base(3), milliseconds(8'000));
    EXPECT_EQ(b.base(8), milliseconds(256'000));
    EXPECT_EQ(b.base(9), milliseconds(300'000));
    EXPECT_EQ(b.base(1'000'000), milliseconds(300'000));
}

TEST(backoff_schedule, jitter_stays_between_half_and_all_of_the_base) {
    const backoff_schedule b(milliseconds(1'000), milliseconds(60'000));
    for (int attempt = 1; attempt < 20; ++attempt) {
        for (double u : {0.0, 0.25, 0.5, 0.999999, 1.0}) {
            const auto d = b.delay(attempt, u);
            EXPECT_LE(d, b.base(attempt));
            EXPECT_GE(d, b.base(attempt) / 2);
        }
    }
    EXPECT_EQ(b.delay(1, 0.0), milliseconds(1'000));
    EXPECT_EQ(b.delay(1, 1.0), milliseconds(500));
}

TEST(backoff_schedule, never_exceeds_the_cap_whatever_the_sample) {
    const backoff_schedule b(milliseconds(100), milliseconds(5'000));
    for (int attempt = 1; attempt < 100; ++attempt) {
        EXPECT_LE(b.delay(attempt, 0.0), milliseconds(5'000));
        EXPECT_LE(b.delay(attempt, -3.0), milliseconds(5'000));  // out-of-range samples are clamped
        EXPECT_GE(b.delay(attempt, 7.0), milliseconds(50));
    }
}

TEST(backoff_schedule, a_cap_below_the_initial_delay_is_raised_to_it) {
    const backoff_schedule b(milliseconds(4'000), milliseconds(1'000));
    EXPECT_EQ(b.cap(), milliseconds(4'000));
    EXPECT_EQ(b.base(5), milliseconds(4'000));
}

TEST(backoff_schedule, attempt_zero_means_no_wait) {
    const backoff_schedule b(milliseconds(2'000), milliseconds(300'000));
    EXPECT_EQ(b.delay(0, 0.3), milliseconds(0));
}

}  // namespace
}  // namespace sessiond
