#include "sessiond/ibkr/ibkr_calendar.hpp"

#include <gtest/gtest.h>

namespace sessiond {
namespace {

using namespace std::chrono;
using kind = maintenance_window::kind_t;

system_clock::time_point utc(year_month_day d, hours h, minutes m = minutes(0), seconds s = seconds(0)) {
    return sys_days(d) + h + m + s;
}

ibkr_calendar calendar(ibkr_region region, seconds reset = hours(1)) {
    auto zone = time_zone::load(zone_name(region));
    if (!zone) throw std::runtime_error(zone.error().message);
    return ibkr_calendar(region, std::move(*zone), reset);
}

// 2026-12-01 is a Tuesday; 2026-12-05 a Saturday.

TEST(ibkr_calendar, the_daily_reset_window_runs_from_five_minutes_before_to_thirty_after_one_in_the_morning) {
    const auto c = calendar(ibkr_region::new_york);
    // 01:00 EST = 06:00 UTC.
    EXPECT_FALSE(c.window_at(utc(2026y / December / 1, 5h, 54min, 59s)));
    const auto w = c.window_at(utc(2026y / December / 1, 5h, 55min));
    ASSERT_TRUE(w);
    EXPECT_EQ(w->kind, kind::daily_reset);
    EXPECT_EQ(w->start, utc(2026y / December / 1, 5h, 55min));
    EXPECT_EQ(w->end, utc(2026y / December / 1, 6h, 30min));
    EXPECT_TRUE(c.window_at(utc(2026y / December / 1, 6h, 29min, 59s)));
    EXPECT_FALSE(c.window_at(utc(2026y / December / 1, 6h, 30min)));
}

TEST(ibkr_calendar, follows_daylight_saving_time) {
    const auto ny = calendar(ibkr_region::new_york);
    const auto summer = ny.window_at(utc(2026y / July / 7, 5h));  // 01:00 EDT = 05:00 UTC
    ASSERT_TRUE(summer);
    EXPECT_EQ(summer->start, utc(2026y / July / 7, 4h, 55min));
    EXPECT_FALSE(ny.window_at(utc(2026y / July / 7, 6h)));  // 02:00 EDT

    const auto zug = calendar(ibkr_region::zug);  // 01:00 CEST = 23:00 UTC the day before
    const auto w = zug.window_at(utc(2026y / July / 6, 23h));
    ASSERT_TRUE(w);
    EXPECT_EQ(w->start, utc(2026y / July / 6, 22h, 55min));
    EXPECT_EQ(w->end, utc(2026y / July / 6, 23h, 30min));
    EXPECT_TRUE(zug.window_at(utc(2026y / December / 1, 0h, 10min)));  // 01:10 CET
}

TEST(ibkr_calendar, hong_kong_resets_at_five_in_the_afternoon_utc) {
    const auto hk = calendar(ibkr_region::hong_kong);
    const auto w = hk.window_at(utc(2026y / December / 1, 17h));
    ASSERT_TRUE(w);
    EXPECT_EQ(w->start, utc(2026y / December / 1, 16h, 55min));
    EXPECT_EQ(w->end, utc(2026y / December / 1, 17h, 30min));
}

TEST(ibkr_calendar, saturday_evening_maintenance_swallows_sundays_daily_reset) {
    const auto ny = calendar(ibkr_region::new_york);
    // Saturday 17:00 EST = 22:00 UTC, to Sunday 02:00 EST = 07:00 UTC.
    EXPECT_FALSE(ny.window_at(utc(2026y / December / 5, 21h, 59min, 59s)));
    for (const auto t : {utc(2026y / December / 5, 22h), utc(2026y / December / 6, 6h), utc(2026y / December / 6, 6h, 59min)}) {
        const auto w = ny.window_at(t);
        ASSERT_TRUE(w);
        EXPECT_EQ(w->kind, kind::weekly_maintenance);
        EXPECT_EQ(w->start, utc(2026y / December / 5, 22h));
        EXPECT_EQ(w->end, utc(2026y / December / 6, 7h));
    }
    EXPECT_FALSE(ny.window_at(utc(2026y / December / 6, 7h)));
    // Saturday's own daily reset (01:00 Saturday) is an ordinary one.
    const auto saturday_morning = ny.window_at(utc(2026y / December / 5, 6h));
    ASSERT_TRUE(saturday_morning);
    EXPECT_EQ(saturday_morning->kind, kind::daily_reset);
}

TEST(ibkr_calendar, a_reset_time_near_midnight_spills_into_the_next_day) {
    const auto ny = calendar(ibkr_region::new_york, hours(23) + minutes(50));
    // 23:50 EST on Tuesday = 04:50 UTC on Wednesday; the window ends at 00:20 EST = 05:20 UTC.
    const auto w = ny.window_at(utc(2026y / December / 2, 5h, 10min));
    ASSERT_TRUE(w);
    EXPECT_EQ(w->start, utc(2026y / December / 2, 4h, 45min));
    EXPECT_EQ(w->end, utc(2026y / December / 2, 5h, 20min));
}

TEST(ibkr_calendar, a_reset_that_meets_the_weekly_window_joins_it) {
    // 16:40 local: the daily window (16:35-17:10) runs into Saturday's 17:00 start.
    const auto ny = calendar(ibkr_region::new_york, hours(16) + minutes(40));
    const auto w = ny.window_at(utc(2026y / December / 5, 21h, 40min));
    ASSERT_TRUE(w);
    EXPECT_EQ(w->kind, kind::weekly_maintenance);
    EXPECT_EQ(w->start, utc(2026y / December / 5, 21h, 35min));
    EXPECT_EQ(w->end, utc(2026y / December / 6, 7h));
}

TEST(ibkr_calendar, the_weekly_window_on_the_night_clocks_go_back_lasts_an_hour_longer) {
    const auto ny = calendar(ibkr_region::new_york);
    // Saturday 2026-10-31 17:00 EDT = 21:00 UTC to Sunday 02:00 EST = 07:00 UTC.
    const auto w = ny.window_at(utc(2026y / November / 1, 3h));
    ASSERT_TRUE(w);
    EXPECT_EQ(w->start, utc(2026y / October / 31, 21h));
    EXPECT_EQ(w->end, utc(2026y / November / 1, 7h));
}

TEST(ibkr_calendar, describes_a_window_in_local_time) {
    const auto ny = calendar(ibkr_region::new_york);
    EXPECT_EQ(ny.describe(*ny.window_at(utc(2026y / December / 1, 6h))),
              "IBKR's daily reset (01:00 in New York), until 01:30 EST");
    EXPECT_EQ(ny.describe(*ny.window_at(utc(2026y / December / 5, 23h))),
              "IBKR's weekly maintenance (Saturday evening in New York), until 02:00 EST");
    const auto zug = calendar(ibkr_region::zug);
    EXPECT_EQ(zug.describe(*zug.window_at(utc(2026y / July / 6, 23h))), "IBKR's daily reset (01:00 in Zug), until 01:30 CEST");
}

TEST(ibkr_calendar, regions_have_names_and_zones) {
    EXPECT_EQ(parse_region("new_york"), ibkr_region::new_york);
    EXPECT_EQ(parse_region("ZUG"), ibkr_region::zug);
    EXPECT_EQ(parse_region("Hong_Kong"), ibkr_region::hong_kong);
    EXPECT_FALSE(parse_region("london"));
    EXPECT_FALSE(parse_region(""));
    EXPECT_EQ(zone_name(ibkr_region::zug), "Europe/Zurich");
    EXPECT_EQ(to_string(ibkr_region::hong_kong), "hong_kong");
    EXPECT_EQ(to_string(kind::weekly_maintenance), "weekly_maintenance");
}

}  // namespace
}  // namespace sessiond
