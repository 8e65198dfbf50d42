#pragma once
// Local time as an IANA time zone defines it, read from a TZif file (RFC 8536) such as
// /usr/share/zoneinfo/Europe/Zurich: the UTC offset at any instant, daylight saving included, and
// past the file's last transition by the POSIX TZ rule in its footer ("CET-1CEST,M3.5.0,M10.5.0/3").
//
// GCC 12's libstdc++ has no std::chrono::tzdb; this is the small part of it the daemon needs, to
// place IBKR's daily reset ("about 01:00 local time") in New York, Zug or Hong Kong.
//
// from_tzif() is pure (bytes in); load() reads the file once, at configuration time, never on the
// event loop's hot path. A time_zone is immutable and cheap to share.

#include "sessiond/core/error.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sessiond {

class time_zone {
public:
    // A TZif file of version 1, 2, 3 or 4. Errors say what is malformed, not where in the bytes.
    static expected<time_zone> from_tzif(std::string_view bytes, std::string name);
    // `name` ("America/New_York") under `dir`, by default /usr/share/zoneinfo.
    // Only names made of the zone database's characters are accepted (no "..", no leading '/').
    static expected<time_zone> load(std::string_view name, std::optional<std::filesystem::path> dir = {});

    // Local time minus UTC at instant t: -5 h for New York in winter, +2 h for Zurich in summer.
    [[nodiscard]] std::chrono::seconds offset_at(std::chrono::sys_seconds t) const;
    // "EST", "CEST", "HKT".
    [[nodiscard]] std::string_view abbreviation_at(std::chrono::sys_seconds t) const;
    [[nodiscard]] std::chrono::local_seconds to_local(std::chrono::sys_seconds t) const;
    // The instant a local time names. A local time the clocks skipped (spring forward) is read with
    // the offset before the gap, so it lands after the gap (02:30 on that night in New York is 03:30
    // EDT); a local time that happened twice (fall back) is the earlier of the two.
    [[nodiscard]] std::chrono::sys_seconds to_sys(std::chrono::local_seconds t) const;

    [[nodiscard]] const std::string& name() const noexcept { return name_; }

    // A POSIX TZ rule ("EST5EDT,M3.2.0,M11.1.0"), as in the footer of a TZif file.
    struct rule_date {
        enum class kind_t : std::uint8_t { julian_no_leap, zero_based_day, month_week_day };
        kind_t kind = kind_t::month_week_day;
        int day = 0;    // Jn: 1-365; n: 0-365; Mm.w.d: d, 0 (Sunday) to 6
        int month = 0;  // Mm.w.d: 1-12
        int week = 0;   // Mm.w.d: 1-5 (5: the last)
        std::chrono::seconds time{7200};  // local time of day the change happens, -167 h to 167 h
    };
    struct posix_rule {
        std::string std_abbreviation;
        std::chrono::seconds std_offset{0};  // east of UTC positive (POSIX writes it the other way round)
        bool has_dst = false;
        std::string dst_abbreviation;
        std::chrono::seconds dst_offset{0};
        rule_date dst_start;
        rule_date dst_end;
    };
    static expected<posix_rule> parse_posix_rule(std::string_view text);

private:
    struct local_type {
        std::chrono::seconds offset{0};
        std::string abbreviation;
    };
    struct transition {
        std::chrono::sys_seconds at;
        std::uint16_t type = 0;  // index into types_
    };

    struct in_force {
        std::chrono::seconds offset;
        const std::string* abbreviation;  // into this object: valid while it lives, unchanged
    };
    [[nodiscard]] in_force at(std::chrono::sys_seconds t) const;

    std::string name_;
    std::vector<local_type> types_;
    std::vector<transition> transitions_;  // sorted
    std::optional<posix_rule> rule_;       // after the last transition
};

}  // namespace sessiond
