#include "sessiond/core/time_zone.hpp"

#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <random>
#include <sstream>

namespace sessiond {
namespace {

using namespace std::chrono;
using testing::temp_dir;

sys_seconds utc(year_month_day d, hours h, minutes m = minutes(0), seconds s = seconds(0)) {
    return sys_seconds(sys_days(d).time_since_epoch()) + h + m + s;
}

local_seconds local(year_month_day d, hours h, minutes m = minutes(0)) {
    return local_seconds(sys_days(d).time_since_epoch()) + h + m;
}

time_zone zone(std::string_view name) {
    auto z = time_zone::load(name);
    if (!z) throw std::runtime_error(z.error().message);
    return *z;
}

std::string file_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

// A version 2 TZif file with no transitions, one type and the given footer rule.
std::string minimal_tzif(std::int32_t offset, std::string_view abbreviation, std::string_view footer) {
    auto be32 = [](std::string& out, std::uint32_t v) {
        for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xff);
    };
    auto block = [&](std::string& out) {
        out += "TZif2";
        out.append(15, '\0');
        for (std::uint32_t count : {0u, 0u, 0u, 0u, 1u, static_cast<std::uint32_t>(abbreviation.size() + 1)}) be32(out, count);
        be32(out, static_cast<std::uint32_t>(offset));
        out += '\0';  // isdst
        out += '\0';  // abbreviation index
        out += abbreviation;
        out += '\0';
    };
    std::string out;
    block(out);
    block(out);
    out += '\n';
    out += footer;
    out += '\n';
    return out;
}

TEST(time_zone, new_york_springs_forward_and_falls_back_at_two_in_the_morning) {
    const time_zone ny = zone("America/New_York");
    EXPECT_EQ(ny.name(), "America/New_York");
    // 2026-03-08 02:00 EST = 07:00 UTC; 2026-11-01 02:00 EDT = 06:00 UTC.
    EXPECT_EQ(ny.offset_at(utc(2026y / March / 8, 6h, 59min, 59s)), -5h);
    EXPECT_EQ(ny.offset_at(utc(2026y / March / 8, 7h)), -4h);
    EXPECT_EQ(ny.abbreviation_at(utc(2026y / March / 8, 7h)), "EDT");
    EXPECT_EQ(ny.offset_at(utc(2026y / November / 1, 5h, 59min, 59s)), -4h);
    EXPECT_EQ(ny.offset_at(utc(2026y / November / 1, 6h)), -5h);
    EXPECT_EQ(ny.abbreviation_at(utc(2026y / December / 1, 6h)), "EST");
}

TEST(time_zone, zurich_changes_at_one_utc_on_the_last_sundays_of_march_and_october) {
    const time_zone zurich = zone("Europe/Zurich");
    EXPECT_EQ(zurich.offset_at(utc(2026y / March / 29, 0h, 59min, 59s)), 1h);
    EXPECT_EQ(zurich.offset_at(utc(2026y / March / 29, 1h)), 2h);
    EXPECT_EQ(zurich.abbreviation_at(utc(2026y / July / 1, 12h)), "CEST");
    EXPECT_EQ(zurich.offset_at(utc(2026y / October / 25, 0h, 59min, 59s)), 2h);
    EXPECT_EQ(zurich.offset_at(utc(2026y / October / 25, 1h)), 1h);
}

TEST(time_zone, hong_kong_has_no_daylight_saving_now) {
    const time_zone hk = zone("Asia/Hong_Kong");
    for (const auto month : {January, April, July, October}) EXPECT_EQ(hk.offset_at(utc(2026y / month / 15, 12h)), 8h);
    EXPECT_EQ(hk.abbreviation_at(utc(2026y / July / 15, 12h)), "HKT");
    EXPECT_EQ(hk.offset_at(utc(1979y / July / 15, 12h)), 9h) << "summer time ended in 1979";
}

TEST(time_zone, after_the_last_transition_the_footer_rule_decides) {
    // Debian's files list transitions up to 2037; 2040 comes from "EST5EDT,M3.2.0,M11.1.0".
    const time_zone ny = zone("America/New_York");
    EXPECT_EQ(ny.offset_at(utc(2040y / March / 11, 6h, 59min, 59s)), -5h);  // second Sunday of March 2040
    EXPECT_EQ(ny.offset_at(utc(2040y / March / 11, 7h)), -4h);
    EXPECT_EQ(ny.offset_at(utc(2040y / November / 4, 6h)), -5h);           // first Sunday of November
    EXPECT_EQ(ny.abbreviation_at(utc(2040y / July / 4, 12h)), "EDT");
    const time_zone zurich = zone("Europe/Zurich");  // "CET-1CEST,M3.5.0,M10.5.0/3"
    EXPECT_EQ(zurich.offset_at(utc(2040y / March / 25, 0h, 59min, 59s)), 1h);
    EXPECT_EQ(zurich.offset_at(utc(2040y / March / 25, 1h)), 2h);
    EXPECT_EQ(zurich.offset_at(utc(2040y / October / 28, 1h)), 1h);
}

TEST(time_zone, agrees_with_glibc_at_random_instants_from_1970_to_2100) {
    std::mt19937_64 random(20261201);
    std::uniform_int_distribution<std::int64_t> instant(0, 4'102'444'800);  // 2100-01-01
    for (const char* name : {"America/New_York", "Europe/Zurich", "Asia/Hong_Kong"}) {
        const time_zone z = zone(name);
        ::setenv("TZ", name, 1);
        ::tzset();
        for (int i = 0; i < 2000; ++i) {
            const std::time_t t = instant(random);
            std::tm tm{};
            ASSERT_NE(::localtime_r(&t, &tm), nullptr);
            ASSERT_EQ(z.offset_at(sys_seconds(seconds(t))).count(), tm.tm_gmtoff) << name << " at " << t;
            ASSERT_EQ(z.abbreviation_at(sys_seconds(seconds(t))), tm.tm_zone) << name << " at " << t;
        }
    }
    ::unsetenv("TZ");
    ::tzset();
}

TEST(time_zone, local_times_convert_back_to_the_instant) {
    const time_zone ny = zone("America/New_York");
    EXPECT_EQ(ny.to_sys(local(2026y / December / 1, 1h)), utc(2026y / December / 1, 6h));
    EXPECT_EQ(ny.to_sys(local(2026y / July / 1, 1h)), utc(2026y / July / 1, 5h));
    EXPECT_EQ(ny.to_local(utc(2026y / July / 1, 5h)), local(2026y / July / 1, 1h));
}

TEST(time_zone, a_skipped_local_time_lands_after_the_gap_and_a_repeated_one_is_the_earlier) {
    const time_zone ny = zone("America/New_York");
    // 02:30 on 2026-03-08 never happened: read with EST it is 07:30 UTC, 03:30 EDT.
    EXPECT_EQ(ny.to_sys(local(2026y / March / 8, 2h, 30min)), utc(2026y / March / 8, 7h, 30min));
    // 01:30 on 2026-11-01 happened twice (EDT, then EST): the first, 05:30 UTC.
    EXPECT_EQ(ny.to_sys(local(2026y / November / 1, 1h, 30min)), utc(2026y / November / 1, 5h, 30min));
}

TEST(time_zone, reads_a_file_without_transitions_whose_footer_has_no_daylight_saving) {
    const auto z = time_zone::from_tzif(minimal_tzif(8 * 3600, "HKT", "HKT-8"), "test/HK");
    ASSERT_TRUE(z) << z.error().message;
    EXPECT_EQ(z->offset_at(utc(2026y / July / 1, 0h)), 8h);
    EXPECT_EQ(z->abbreviation_at(utc(2026y / July / 1, 0h)), "HKT");
}

TEST(time_zone, a_southern_rule_has_summer_across_the_new_year) {
    // Australia/Sydney's rule: AEDT from the first Sunday of October to the first Sunday of April.
    const auto z = time_zone::from_tzif(minimal_tzif(10 * 3600, "AEST", "AEST-10AEDT,M10.1.0,M4.1.0/3"), "test/Sydney");
    ASSERT_TRUE(z) << z.error().message;
    EXPECT_EQ(z->offset_at(utc(2026y / January / 15, 0h)), 11h);
    EXPECT_EQ(z->offset_at(utc(2026y / July / 15, 0h)), 10h);
    EXPECT_EQ(z->offset_at(utc(2026y / December / 15, 0h)), 11h);
}

TEST(time_zone, parses_every_form_of_posix_rule) {
    const auto quoted = time_zone::parse_posix_rule("<+0330>-3:30");
    ASSERT_TRUE(quoted) << quoted.error().message;
    EXPECT_EQ(quoted->std_abbreviation, "+0330");
    EXPECT_EQ(quoted->std_offset, 3h + 30min);
    EXPECT_FALSE(quoted->has_dst);

    const auto full = time_zone::parse_posix_rule("XST3XDT2,J60/2:30,300/-1");
    ASSERT_TRUE(full) << full.error().message;
    EXPECT_EQ(full->std_offset, -3h);
    EXPECT_EQ(full->dst_offset, -2h);
    EXPECT_EQ(full->dst_start.kind, time_zone::rule_date::kind_t::julian_no_leap);
    EXPECT_EQ(full->dst_start.day, 60);
    EXPECT_EQ(full->dst_start.time, 2h + 30min);
    EXPECT_EQ(full->dst_end.kind, time_zone::rule_date::kind_t::zero_based_day);
    EXPECT_EQ(full->dst_end.day, 300);
    EXPECT_EQ(full->dst_end.time, -1h);

    const auto ny = time_zone::parse_posix_rule("EST5EDT,M3.2.0,M11.1.0");
    ASSERT_TRUE(ny);
    EXPECT_EQ(ny->dst_offset, -4h) << "one hour ahead of standard time when not given";
    EXPECT_EQ(ny->dst_start.month, 3);
    EXPECT_EQ(ny->dst_start.week, 2);
    EXPECT_EQ(ny->dst_start.time, 2h) << "02:00 when not given";
    EXPECT_TRUE(time_zone::parse_posix_rule("EST5EDT,M3.2.0/167,M11.1.0/-167"));
}

TEST(time_zone, refuses_malformed_posix_rules) {
    for (const char* text : {"", "E5", "EST", "EST5EDT", "EST5EDT,M3.2.0", "EST5EDT,M13.2.0,M11.1.0",
                             "EST5EDT,M3.6.0,M11.1.0", "EST5EDT,M3.2.7,M11.1.0", "EST5EDT,J0,J365", "EST25",
                             "EST5EDT,M3.2.0/168,M11.1.0", "<AB>5", "EST5EDT,M3.2.0,M11.1.0,", "EST5 "}) {
        SCOPED_TRACE(text);
        const auto r = time_zone::parse_posix_rule(text);
        ASSERT_FALSE(r);
        EXPECT_NE(r.error().message.find("malformed POSIX TZ rule"), std::string::npos);
    }
}

TEST(time_zone, refuses_malformed_files_saying_what_is_wrong) {
    const std::string real = file_bytes("/usr/share/zoneinfo/Europe/Zurich");
    ASSERT_FALSE(real.empty());
    const auto error_of = [](const std::string& bytes) {
        auto z = time_zone::from_tzif(bytes, "x");
        return z ? std::string("accepted") : z.error().message;
    };
    EXPECT_EQ(error_of(""), "not a TZif file (too short)");
    EXPECT_EQ(error_of(std::string(60, 'x')), "not a TZif file (no TZif magic)");
    std::string version = real;
    version[4] = '9';
    EXPECT_EQ(error_of(version), "unsupported TZif version");
    for (const std::size_t cut : {std::size_t(50), real.size() / 2, real.size() - 3}) {
        SCOPED_TRACE(cut);
        const std::string message = error_of(real.substr(0, cut));
        EXPECT_TRUE(message.starts_with("malformed TZif file") || message.starts_with("not a TZif file") ||
                    message.starts_with("malformed POSIX TZ rule"))
            << message;
    }
    std::string no_types = minimal_tzif(0, "UTC", "UTC0");
    no_types[20 + 16 + 3] = '\0';  // typecnt of the first header: 0
    EXPECT_EQ(error_of(no_types), "malformed TZif file (no local time types)");
    EXPECT_EQ(error_of(std::string(2 << 20, '\0')), "not a TZif file (too large)");
}

TEST(time_zone, loads_only_names_inside_the_zone_directory) {
    for (const char* name : {"", "/etc/passwd", "../../etc/passwd", "America/../../etc/passwd", "New York"}) {
        SCOPED_TRACE(name);
        const auto z = time_zone::load(name);
        ASSERT_FALSE(z);
        EXPECT_EQ(z.error().message, "not a time zone name");
    }
    const temp_dir dir;
    const auto missing = time_zone::load("America/New_York", dir.path());
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message.find("cannot read " + (dir.path() / "America/New_York").string()), std::string::npos);
    EXPECT_NE(missing.error().message.find("tzdata"), std::string::npos);
}

}  // namespace
}  // namespace sessiond
