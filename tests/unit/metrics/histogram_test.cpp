#include "sessiond/metrics/histogram.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <vector>

namespace sessiond {
namespace {

using counts = std::vector<std::uint64_t>;

counts counts_of(const histogram& h) { return counts(h.bucket_counts().begin(), h.bucket_counts().end()); }

TEST(metrics_histogram, starts_empty_with_one_bucket_per_bound_plus_inf) {
    const histogram h({1, 2, 3});
    EXPECT_EQ(counts_of(h), (counts{0, 0, 0, 0}));
    EXPECT_EQ(h.count(), 0u);
    EXPECT_EQ(h.sum(), 0.0);
    EXPECT_EQ(h.bounds(), (std::vector<double>{1, 2, 3}));
}

TEST(metrics_histogram, counts_a_value_equal_to_a_bound_in_that_bounds_bucket) {
    histogram h({0.005, 0.01, 1});
    h.observe(0.005);
    h.observe(0.01);
    h.observe(1);
    EXPECT_EQ(counts_of(h), (counts{1, 1, 1, 0}));
}

TEST(metrics_histogram, counts_a_value_just_above_a_bound_in_the_next_bucket) {
    histogram h({0.005, 0.01});
    h.observe(0.005000000001);
    h.observe(0.010000000001);
    EXPECT_EQ(counts_of(h), (counts{0, 1, 1}));
}

TEST(metrics_histogram, counts_values_below_the_first_bound_in_the_first_bucket) {
    histogram h({1, 2});
    h.observe(0);
    h.observe(-5);
    h.observe(-std::numeric_limits<double>::infinity());
    EXPECT_EQ(counts_of(h), (counts{3, 0, 0}));
}

TEST(metrics_histogram, counts_values_above_the_last_bound_in_the_inf_bucket) {
    histogram h({1, 2});
    h.observe(2.5);
    h.observe(1e300);
    h.observe(std::numeric_limits<double>::infinity());
    EXPECT_EQ(counts_of(h), (counts{0, 0, 3}));
}

TEST(metrics_histogram, ignores_nan) {
    histogram h({1});
    h.observe(std::numeric_limits<double>::quiet_NaN());
    EXPECT_EQ(counts_of(h), (counts{0, 0}));
    EXPECT_EQ(h.count(), 0u);
    EXPECT_EQ(h.sum(), 0.0);
}

TEST(metrics_histogram, sums_and_counts_every_observation) {
    histogram h(request_duration_buckets());
    h.observe(0.5);
    h.observe(0.25);
    h.observe(3);
    h.observe(20);
    EXPECT_EQ(h.count(), 4u);
    EXPECT_EQ(h.sum(), 23.75);
}

TEST(metrics_histogram, without_bounds_counts_everything_in_the_inf_bucket) {
    histogram h(std::vector<double>{});
    h.observe(-1);
    h.observe(1);
    EXPECT_EQ(counts_of(h), (counts{2}));
}

TEST(metrics_histogram, request_duration_buckets_span_five_milliseconds_to_ten_seconds) {
    EXPECT_EQ(*request_duration_buckets(),
              (std::vector<double>{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}));
}

TEST(metrics_histogram_death, aborts_on_bounds_out_of_order) {
    EXPECT_DEATH(histogram({2, 1}), "strictly increasing");
}

TEST(metrics_histogram_death, aborts_on_a_repeated_bound) {
    EXPECT_DEATH(histogram({1, 1}), "strictly increasing");
}

TEST(metrics_histogram_death, aborts_on_an_infinite_or_nan_bound) {
    EXPECT_DEATH(histogram({1, std::numeric_limits<double>::infinity()}), "finite");
    EXPECT_DEATH(histogram({std::numeric_limits<double>::quiet_NaN()}), "finite");
}

}  // namespace
}  // namespace sessiond
