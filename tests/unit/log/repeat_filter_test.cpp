#include "sessiond/log/repeat_filter.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sessiond {
namespace {

using namespace std::chrono_literals;
using time_point = repeat_filter::time_point;

const time_point t0{};  // the filter only compares times: any origin will do

repeat_filter::verdict emitted(std::uint64_t suppressed = 0, std::uint64_t previous = 0) {
    return {true, suppressed, previous};
}
repeat_filter::verdict suppressed() { return {false, 0, 0}; }

void expect_verdict(const repeat_filter::verdict& actual, const repeat_filter::verdict& expected, int line) {
    EXPECT_EQ(actual.emit, expected.emit) << "line " << line;
    EXPECT_EQ(actual.suppressed, expected.suppressed) << "line " << line;
    EXPECT_EQ(actual.previous_suppressed, expected.previous_suppressed) << "line " << line;
}
#define EXPECT_VERDICT(actual, expected) expect_verdict((actual), (expected), __LINE__)

TEST(repeat_filter, first_occurrence_is_emitted) {
    repeat_filter f;
    EXPECT_VERDICT(f.check("tickle 503", t0), emitted());
    EXPECT_EQ(f.pending(), 0u);
}

TEST(repeat_filter, identical_lines_within_the_window_are_suppressed_and_counted) {
    repeat_filter f;
    EXPECT_VERDICT(f.check("tickle 503", t0), emitted());
    EXPECT_VERDICT(f.check("tickle 503", t0 + 1s), suppressed());
    EXPECT_VERDICT(f.check("tickle 503", t0 + 30s), suppressed());
    EXPECT_VERDICT(f.check("tickle 503", t0 + 59s + 999ms), suppressed());
    EXPECT_EQ(f.pending(), 3u);
}

TEST(repeat_filter, next_emission_after_the_window_carries_the_count) {
    repeat_filter f;
    EXPECT_VERDICT(f.check("k", t0), emitted());
    EXPECT_VERDICT(f.check("k", t0 + 10s), suppressed());
    EXPECT_VERDICT(f.check("k", t0 + 20s), suppressed());
    EXPECT_VERDICT(f.check("k", t0 + 60s), emitted(2));  // the window is [t, t + 60 s)
    EXPECT_EQ(f.pending(), 0u);
}

TEST(repeat_filter, the_window_restarts_at_each_emission) {
    repeat_filter f;
    EXPECT_VERDICT(f.check("k", t0), emitted());
    EXPECT_VERDICT(f.check("k", t0 + 59s), suppressed());
    EXPECT_VERDICT(f.check("k", t0 + 61s), emitted(1));
    EXPECT_VERDICT(f.check("k", t0 + 62s), suppressed());   // within 60 s of 61 s
    EXPECT_VERDICT(f.check("k", t0 + 120s), suppressed());  // still within 60 s of 61 s
    EXPECT_VERDICT(f.check("k", t0 + 121s), emitted(2));
}

TEST(repeat_filter, sparse_repeats_are_all_emitted_with_nothing_suppressed) {
    repeat_filter f;
    for (int i = 0; i < 10; ++i) EXPECT_VERDICT(f.check("k", t0 + i * 300s), emitted());  // backoff beyond the window
}

TEST(repeat_filter, a_different_key_is_emitted_at_once_and_reports_the_previous_count) {
    repeat_filter f;
    EXPECT_VERDICT(f.check("a", t0), emitted());
    EXPECT_VERDICT(f.check("a", t0 + 1s), suppressed());
    EXPECT_VERDICT(f.check("a", t0 + 2s), suppressed());
    EXPECT_VERDICT(f.check("b", t0 + 3s), emitted(0, 2));
    EXPECT_EQ(f.pending(), 0u);
    EXPECT_VERDICT(f.check("b", t0 + 4s), suppressed());
}

TEST(repeat_filter, a_different_key_with_nothing_suppressed_reports_zero) {
    repeat_filter f;
    EXPECT_VERDICT(f.check("a", t0), emitted());
    EXPECT_VERDICT(f.check("b", t0), emitted());
    EXPECT_VERDICT(f.check("a", t0), emitted());
}

TEST(repeat_filter, only_the_latest_key_is_remembered) {
    repeat_filter f;
    EXPECT_VERDICT(f.check("a", t0), emitted());
    EXPECT_VERDICT(f.check("b", t0 + 1s), emitted());
    EXPECT_VERDICT(f.check("a", t0 + 2s), emitted());  // "a" again, but "b" came between
    EXPECT_VERDICT(f.check("a", t0 + 3s), suppressed());
}

TEST(repeat_filter, keys_are_compared_exactly) {
    repeat_filter f;
    EXPECT_VERDICT(f.check("tickle 503", t0), emitted());
    EXPECT_VERDICT(f.check("tickle 503 ", t0), emitted());
    EXPECT_VERDICT(f.check("Tickle 503", t0), emitted());
    EXPECT_VERDICT(f.check("", t0), emitted());
    EXPECT_VERDICT(f.check("", t0), suppressed());
    EXPECT_VERDICT(f.check(std::string_view("a\0b", 3), t0), emitted(0, 1));  // "" was suppressed once
    EXPECT_VERDICT(f.check(std::string_view("a\0c", 3), t0), emitted(0, 0));
}

TEST(repeat_filter, long_keys_are_told_apart_beyond_the_stored_prefix) {
    repeat_filter f;
    const std::string prefix(repeat_filter::max_key_bytes, 'x');
    EXPECT_VERDICT(f.check(prefix + "tail one", t0), emitted());
    EXPECT_VERDICT(f.check(prefix + "tail one", t0 + 1s), suppressed());
    EXPECT_VERDICT(f.check(prefix + "tail two", t0 + 2s), emitted(0, 1));
    EXPECT_VERDICT(f.check(prefix + "tail twoo", t0 + 3s), emitted());  // same prefix, other length
    EXPECT_VERDICT(f.check(prefix, t0 + 4s), emitted());                 // exactly the limit: stored as is
    EXPECT_VERDICT(f.check(prefix, t0 + 5s), suppressed());
}

TEST(repeat_filter, memory_stays_bounded_for_huge_and_many_keys) {
    repeat_filter f;
    const std::string huge(1 << 20, 'k');
    EXPECT_VERDICT(f.check(huge, t0), emitted());
    EXPECT_VERDICT(f.check(huge, t0 + 1s), suppressed());
    EXPECT_LE(f.stored_key_bytes(), repeat_filter::max_stored_key_bytes);
    // Only one key is ever held: a thousand different keys leave nothing behind but the last.
    for (int i = 0; i < 1000; ++i) (void)f.check("key " + std::to_string(i), t0 + 2s);
    EXPECT_EQ(f.stored_key_bytes(), std::string("key 999").size());
    EXPECT_VERDICT(f.check("key 999", t0 + 3s), suppressed());
    EXPECT_VERDICT(f.check("key 0", t0 + 3s), emitted(0, 1));
}

TEST(repeat_filter, a_clock_going_backwards_counts_as_no_time_passed) {
    repeat_filter f;
    EXPECT_VERDICT(f.check("k", t0 + 100s), emitted());
    EXPECT_VERDICT(f.check("k", t0 + 10s), suppressed());
    EXPECT_VERDICT(f.check("k", t0 + 160s), emitted(1));
}

TEST(repeat_filter, custom_window) {
    repeat_filter f(5s);
    EXPECT_EQ(f.window(), 5s);
    EXPECT_VERDICT(f.check("k", t0), emitted());
    EXPECT_VERDICT(f.check("k", t0 + 4s), suppressed());
    EXPECT_VERDICT(f.check("k", t0 + 5s), emitted(1));
}

TEST(repeat_filter, zero_window_suppresses_nothing) {
    repeat_filter f(0s);
    for (int i = 0; i < 3; ++i) EXPECT_VERDICT(f.check("k", t0), emitted());
    repeat_filter negative(-1s);
    for (int i = 0; i < 3; ++i) EXPECT_VERDICT(negative.check("k", t0), emitted());
}

TEST(repeat_filter, default_window_is_a_minute) { EXPECT_EQ(repeat_filter().window(), 60s); }

TEST(repeat_filter, take_pending_reports_once) {
    repeat_filter f;
    EXPECT_VERDICT(f.check("k", t0), emitted());
    EXPECT_VERDICT(f.check("k", t0 + 1s), suppressed());
    EXPECT_VERDICT(f.check("k", t0 + 2s), suppressed());
    EXPECT_EQ(f.take_pending(), 2u);
    EXPECT_EQ(f.take_pending(), 0u);
    // Taken means reported: the next emission does not count them again.
    EXPECT_VERDICT(f.check("k", t0 + 3s), suppressed());
    EXPECT_VERDICT(f.check("k", t0 + 61s), emitted(1));
}

TEST(repeat_filter, reset_forgets_the_key) {
    repeat_filter f;
    EXPECT_VERDICT(f.check("k", t0), emitted());
    EXPECT_VERDICT(f.check("k", t0 + 1s), suppressed());
    f.reset();
    EXPECT_EQ(f.pending(), 0u);
    EXPECT_VERDICT(f.check("k", t0 + 2s), emitted());  // the failure is back: logged at once
    f.reset();
    EXPECT_VERDICT(f.check("other", t0 + 3s), emitted(0, 0));
}

TEST(repeat_filter, suppressed_suffix_reads_well) {
    EXPECT_EQ(suppressed_suffix(0), "");
    EXPECT_EQ(suppressed_suffix(1), " (1 identical message suppressed)");
    EXPECT_EQ(suppressed_suffix(2), " (2 identical messages suppressed)");
    EXPECT_EQ(suppressed_suffix(1234), " (1234 identical messages suppressed)");
}

}  // namespace
}  // namespace sessiond
