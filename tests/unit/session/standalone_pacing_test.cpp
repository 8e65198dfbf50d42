#include "sessiond/session/standalone_pacing.hpp"

#include "sessiond/core/state_file.hpp"

#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

namespace sessiond {
namespace {

using namespace std::chrono_literals;

const wall_time t0 = wall_time(std::chrono::milliseconds(1'780'000'000'000));

session_options production() { return session_options{}; }  // 10 s apart, 30 an hour, validate 60 s, timeout 10 s

persisted_pacing record_with(std::initializer_list<wall_time> logins, std::optional<wall_time> validate) {
    persisted_pacing r{login_budget({10s, 30}), validate};
    for (const auto t : logins) r.logins.record(t);
    return r;
}

TEST(standalone_login_refusal, an_empty_record_allows_the_login) {
    EXPECT_FALSE(standalone_login_refusal(record_with({}, std::nullopt), production(), t0));
}

TEST(standalone_login_refusal, a_validate_within_ibkrs_minute_plus_the_http_timeout_refuses_naming_when) {
    const auto r = record_with({t0 - 5min}, t0 - 30s);
    const auto why = standalone_login_refusal(r, production(), t0);
    ASSERT_TRUE(why);
    EXPECT_NE(why->find("IBKR allows one validate every 60 s"), std::string::npos) << *why;
    EXPECT_NE(why->find("in 40 s"), std::string::npos) << "60 s pace + 10 s in flight - 30 s: " << *why;
    EXPECT_FALSE(standalone_login_refusal(r, production(), t0 + 40s));
}

TEST(standalone_login_refusal, a_login_within_the_spacing_plus_the_http_timeout_refuses) {
    const auto r = record_with({t0 - 5s}, std::nullopt);
    const auto why = standalone_login_refusal(r, production(), t0);
    ASSERT_TRUE(why);
    EXPECT_NE(why->find("the login budget of this IBKR username"), std::string::npos) << *why;
    EXPECT_FALSE(standalone_login_refusal(r, production(), t0 + 15s));
}

TEST(standalone_login_refusal, a_spent_hour_refuses_until_the_oldest_login_leaves_it) {
    auto o = production();
    o.logins_per_hour = 2;
    persisted_pacing r{login_budget({10s, 2}), std::nullopt};
    r.logins.record(t0 - 50min);
    r.logins.record(t0 - 40min);
    EXPECT_TRUE(standalone_login_refusal(r, o, t0));
    EXPECT_FALSE(standalone_login_refusal(r, o, t0 + 10min + 1s));
}

TEST(standalone_pacing, records_its_login_and_validate_where_a_daemon_reads_them) {
    const testing::temp_dir dir;
    settings config;
    config.profile.credential = "simuser";
    config.service.state_dir = dir.path();
    auto pacing = standalone_pacing::open(config, t0);
    EXPECT_FALSE(pacing.refusal(t0));
    ASSERT_TRUE(pacing.record_login(t0));
    ASSERT_TRUE(pacing.record_validate(t0 + 2s));

    const auto text = read_small_file(dir.path() / pacing_file_name("simuser"));
    ASSERT_TRUE(text && *text);
    const auto back = restore_pacing(**text, {10s, 30}, t0 + 3s);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back->logins.recent().size(), 1u);
    EXPECT_EQ(back->last_validate, t0 + 2s);
    // The next run, a few seconds later, keeps to it.
    EXPECT_TRUE(standalone_pacing::open(config, t0 + 3s).refusal(t0 + 3s));
}

TEST(standalone_pacing, an_unreadable_record_counts_as_a_login_just_made_and_says_so) {
    const testing::temp_dir dir;
    dir.write(pacing_file_name("simuser"), "garbage\n");
    settings config;
    config.profile.credential = "simuser";
    config.service.state_dir = dir.path();
    const auto pacing = standalone_pacing::open(config, t0);
    EXPECT_NE(pacing.note().find("counting a login and a validate now"), std::string::npos) << pacing.note();
    EXPECT_EQ(pacing.note().find("garbage"), std::string::npos) << "the content is not echoed";
    EXPECT_TRUE(pacing.refusal(t0));
    EXPECT_FALSE(pacing.refusal(t0 + 71s));
}

TEST(standalone_pacing, without_a_state_directory_keeps_to_nothing_and_writes_nothing) {
    settings config;
    auto pacing = standalone_pacing::open(config, t0);
    EXPECT_FALSE(pacing.refusal(t0));
    EXPECT_TRUE(pacing.record_login(t0));
}

}  // namespace
}  // namespace sessiond
