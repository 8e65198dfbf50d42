#include "sessiond/pacing/pacing_file.hpp"

#include "budget_test_times.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sessiond {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

using budget_test::limits;
using budget_test::t0;

std::string unix_ms(wall_time t) {
    return std::to_string(std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count());
}
std::string login_line(wall_time t) { return "login " + unix_ms(t) + "\n"; }

constexpr std::string_view header = "sessiond-pacing 1\n";

persisted_pacing restore_ok(std::string_view text, login_budget_settings s = {}, wall_time now = t0) {
    auto r = parse_pacing_record(text, s, now);
    if (!r) {
        ADD_FAILURE() << r.error().message << " for: " << text;
        return {login_budget(s), std::nullopt};
    }
    return std::move(*r);
}

std::string restore_error(std::string_view text, wall_time now = t0) {
    auto r = parse_pacing_record(text, {}, now);
    if (r) {
        ADD_FAILURE() << "expected an error for: " << text;
        return {};
    }
    return r.error().message;
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

TEST(pacing_file, serializes_logins_oldest_first_then_the_last_validate) {
    login_budget b({});
    b.record(t0);
    b.record(t0 + 12'345ms);
    EXPECT_EQ(serialize_pacing(b, t0 + 20s),
              std::string(header) + login_line(t0) + login_line(t0 + 12'345ms) + "validate " + unix_ms(t0 + 20s) + "\n");
    EXPECT_EQ(serialize_pacing(login_budget({}), std::nullopt), header);
}

TEST(pacing_file, rounds_up_so_that_a_restored_call_is_never_earlier_than_the_real_one) {
    login_budget b({});
    b.record(t0 + 1us);
    EXPECT_EQ(serialize_pacing(b, t0 + 2us), std::string(header) + login_line(t0 + 1ms) + "validate " + unix_ms(t0 + 1ms) + "\n");
}

TEST(pacing_file, reads_back_what_it_wrote) {
    login_budget b(limits(10s, 30));
    b.record(t0);
    b.record(t0 + 10s);
    const auto r = restore_ok(serialize_pacing(b, t0 + 15s), limits(10s, 30), t0 + 20s);
    EXPECT_EQ(r.logins.recent(), b.recent());
    EXPECT_EQ(r.last_validate, t0 + 15s);
    EXPECT_EQ(serialize_pacing(r.logins, r.last_validate), serialize_pacing(b, t0 + 15s));
}

TEST(pacing_file, accepts_a_header_alone_and_a_missing_final_newline) {
    const auto empty = restore_ok(header);
    EXPECT_TRUE(empty.logins.recent().empty());
    EXPECT_FALSE(empty.last_validate);
    restore_ok("sessiond-pacing 1");
    EXPECT_EQ(restore_ok(std::string(header) + "login " + unix_ms(t0 - 1s)).logins.recent(), (time_points{t0 - 1s}));
}

TEST(pacing_file, sorts_the_logins) {
    const auto r = restore_ok(std::string(header) + login_line(t0 - 1min) + login_line(t0 - 3min) + login_line(t0 - 2min));
    EXPECT_EQ(r.logins.recent(), (time_points{t0 - 3min, t0 - 2min, t0 - 1min}));
}

TEST(pacing_file, forgets_logins_an_hour_old_or_older_but_keeps_an_old_validate) {
    const auto r = restore_ok(std::string(header) + login_line(t0 - 5h) + login_line(t0 - 1h) + login_line(t0 - 1h + 1ms) +
                              "login 0\nvalidate " + unix_ms(t0 - 2h) + "\n");
    EXPECT_EQ(r.logins.recent(), (time_points{t0 - 1h + 1ms}));
    EXPECT_EQ(r.last_validate, t0 - 2h);
}

TEST(pacing_file, keeps_only_the_newest_per_hour_logins) {
    std::string text(header);
    for (int i = 0; i < 100; ++i) text += login_line(t0 - 50min + i * 10s);
    const auto r = restore_ok(text, limits(10s, 30));
    ASSERT_EQ(r.logins.recent().size(), 30u);
    EXPECT_EQ(r.logins.recent().front(), t0 - 50min + 70 * 10s);
    EXPECT_EQ(r.logins.recent().back(), t0 - 50min + 99 * 10s);
}

TEST(pacing_file, reads_times_in_the_future_as_just_now) {
    const auto r = restore_ok(std::string(header) + login_line(t0 + 1s) + login_line(t0 + 24h) +
                              "login 9223372036854775807\nvalidate " + unix_ms(t0 + 1h) + "\n");
    EXPECT_EQ(r.logins.recent(), (time_points{t0, t0, t0})) << "a clock step must never unlock a storm";
    EXPECT_EQ(r.logins.next_allowed(t0), t0 + 10s);
    EXPECT_EQ(r.last_validate, t0);
}

TEST(pacing_file, a_full_window_from_the_future_waits_an_hour) {
    std::string text(header);
    for (int i = 0; i < 30; ++i) text += login_line(t0 + 2h + i * 10s);
    EXPECT_EQ(restore_ok(text, limits(10s, 30)).logins.next_allowed(t0), t0 + 1h);
}

TEST(pacing_file, uses_the_limits_given) {
    const auto r = restore_ok(std::string(header) + login_line(t0), limits(1min, 5));
    EXPECT_EQ(r.logins.limits().per_hour, 5);
    EXPECT_EQ(r.logins.next_allowed(t0), t0 + 1min);
}

TEST(pacing_file, reads_a_long_file_into_bounded_memory) {
    std::string text(header);
    for (int i = 0; i < 10'000; ++i) text += login_line(t0 - 59min + i * 100ms);
    const auto r = restore_ok(text, limits(10s, 30));
    EXPECT_EQ(r.logins.recent().size(), 30u);
    EXPECT_EQ(r.logins.recent().back(), t0 - 59min + 9'999 * 100ms);
}

TEST(pacing_file, refuses_an_empty_text) { EXPECT_TRUE(contains(restore_error(""), "empty")); }

TEST(pacing_file, refuses_a_text_that_is_not_a_pacing_record) {
    const auto e = restore_error("hello\nlogin 123\n");
    EXPECT_TRUE(contains(e, "line 1")) << e;
    EXPECT_TRUE(contains(e, "not a pacing record")) << e;
    EXPECT_FALSE(contains(e, "hello")) << "never echoes the content";
    EXPECT_TRUE(contains(restore_error("\n"), "line 1"));
    EXPECT_TRUE(contains(restore_error("sessiond-pacing 1 \n"), "line 1"));
}

TEST(pacing_file, refuses_another_format_version) {
    const auto e = restore_error("sessiond-pacing 2\n" + login_line(t0));
    EXPECT_TRUE(contains(e, "unsupported format version 2")) << e;
    EXPECT_TRUE(contains(restore_error("sessiond-pacing one\n"), "malformed format version"));
}

TEST(pacing_file, names_the_line_that_is_not_a_record_or_not_a_time) {
    const std::string head = std::string(header) + login_line(t0);
    for (const std::string bad : {"login abc", "login -5", "login +5", "login 12 ", "login  12", "login 1.5", "login 0x10",
                                  "login 12\r", "validate", "tickle 12", "12", "LOGIN 12"}) {
        const auto e = restore_error(head + bad + "\n");
        EXPECT_TRUE(contains(e, "line 3")) << bad << ": " << e;
    }
    EXPECT_TRUE(contains(restore_error(head + "login x\n"), "unix milliseconds"));
    EXPECT_TRUE(contains(restore_error(head + "tickle 5\n"), "expected \"login <unix ms>\" or \"validate <unix ms>\""));
}

TEST(pacing_file, refuses_empty_lines_a_second_validate_and_times_out_of_range) {
    EXPECT_TRUE(contains(restore_error(std::string(header) + login_line(t0) + "\n" + login_line(t0)), "line 3: empty line"));
    EXPECT_TRUE(contains(restore_error(std::string(header) + "validate 1\nvalidate 2\n"), "line 3: a second validate line"));
    EXPECT_TRUE(contains(restore_error(std::string(header) + "login 99999999999999999999999\n"), "line 2: time out of range"));
}

}  // namespace
}  // namespace sessiond
