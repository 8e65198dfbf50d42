#pragma once
// IBKR's calendar: the times when IBKR is expected to fail, so that failures then are slow retries
// and a calm "IBKR maintenance window" rather than an alarm and a backoff that escalates.
//
//   daily reset        brokerage functionality is "briefly unavailable each evening at approximately
//                      0100 local time by region" (New York, Zug or Hong Kong; protocol reference §6):
//                      from 5 minutes before to 30 minutes after that time (§8), every day
//   weekly maintenance the Web API "receives maintenance only on Saturday evenings" (§6, no hours
//                      given): Saturday 17:00 to Sunday 02:00, local time of the region
//
// Local time comes from the IANA time zone of the region (daylight saving included). Windows that
// overlap are one window (the weekly one swallows Sunday's daily reset). Pure: time in, windows out.

#include "sessiond/core/time_zone.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sessiond {

enum class ibkr_region : std::uint8_t { new_york, zug, hong_kong };

std::string_view to_string(ibkr_region r) noexcept;  // "new_york", "zug", "hong_kong"
std::string_view zone_name(ibkr_region r) noexcept;  // "America/New_York", "Europe/Zurich", "Asia/Hong_Kong"
// The names to_string() gives, in any case.
std::optional<ibkr_region> parse_region(std::string_view text) noexcept;

struct maintenance_window {
    enum class kind_t : std::uint8_t { daily_reset, weekly_maintenance };
    kind_t kind = kind_t::daily_reset;
    std::chrono::system_clock::time_point start;
    std::chrono::system_clock::time_point end;  // exclusive
};

std::string_view to_string(maintenance_window::kind_t k) noexcept;  // "daily_reset", "weekly_maintenance"

class ibkr_calendar {
public:
    static constexpr std::chrono::minutes before_reset{5};
    static constexpr std::chrono::minutes after_reset{30};
    static constexpr std::chrono::hours weekly_start{17};  // Saturday, local
    static constexpr std::chrono::hours weekly_end{2};     // the next day (Sunday), local

    // reset_time: the daily reset's local time of day, [0, 24 h).
    ibkr_calendar(ibkr_region region, time_zone zone, std::chrono::seconds reset_time = std::chrono::hours(1));

    // The window that holds t, if any.
    [[nodiscard]] std::optional<maintenance_window> window_at(std::chrono::system_clock::time_point t) const;

    // "IBKR's daily reset (01:00 in New York), until 01:30 EST": for logs and the status page.
    [[nodiscard]] std::string describe(const maintenance_window& w) const;

    [[nodiscard]] ibkr_region region() const noexcept { return region_; }
    [[nodiscard]] std::chrono::seconds reset_time() const noexcept { return reset_time_; }
    [[nodiscard]] const time_zone& zone() const noexcept { return zone_; }

private:
    ibkr_region region_;
    time_zone zone_;
    std::chrono::seconds reset_time_;
};

}  // namespace sessiond
