#include "sessiond/ibkr/ibkr_calendar.hpp"

#include "sessiond/core/values.hpp"

#include <fmt/format.h>

#include <array>

namespace sessiond {

using namespace std::chrono;

namespace {

// Each region once: its setting value, its time zone, and how a person names the place.
struct region_names {
    ibkr_region region;
    std::string_view setting;
    std::string_view zone;
    std::string_view place;
};

constexpr std::array regions{
    region_names{ibkr_region::new_york, "new_york", "America/New_York", "New York"},
    region_names{ibkr_region::zug, "zug", "Europe/Zurich", "Zug"},
    region_names{ibkr_region::hong_kong, "hong_kong", "Asia/Hong_Kong", "Hong Kong"},
};

const region_names& names_of(ibkr_region r) noexcept {
    for (const auto& n : regions)
        if (n.region == r) return n;
    return regions.front();  // unreachable: every enumerator has a row
}

std::string hh_mm(seconds time_of_day) {
    const auto minutes = duration_cast<std::chrono::minutes>(time_of_day).count();
    return fmt::format("{:02}:{:02}", minutes / 60 % 24, minutes % 60);
}

}  // namespace

std::string_view to_string(ibkr_region r) noexcept { return names_of(r).setting; }

std::string_view zone_name(ibkr_region r) noexcept { return names_of(r).zone; }

std::optional<ibkr_region> parse_region(std::string_view text) noexcept {
    for (const auto& n : regions)
        if (equals_ignoring_case(text, n.setting)) return n.region;
    return std::nullopt;
}

std::string_view to_string(maintenance_window::kind_t k) noexcept {
    return k == maintenance_window::kind_t::daily_reset ? "daily_reset" : "weekly_maintenance";
}

ibkr_calendar::ibkr_calendar(ibkr_region region, time_zone zone, seconds reset_time)
    : region_(region), zone_(std::move(zone)), reset_time_(reset_time) {}

std::optional<maintenance_window> ibkr_calendar::window_at(system_clock::time_point t) const {
    using kind = maintenance_window::kind_t;
    const sys_seconds at = floor<seconds>(t);
    const local_days today = floor<days>(zone_.to_local(at));

    // Every window that could touch today, as instants: the daily reset of yesterday, today and
    // tomorrow (a reset near midnight spills over), and the weekly window of the last Saturday
    // (a Sunday's window began the day before) and of the next.
    std::array<maintenance_window, 5> candidates{};
    std::size_t n = 0;
    for (int d = -1; d <= 1; ++d) {
        const local_seconds reset = today + days(d) + reset_time_;
        candidates[n++] = {kind::daily_reset, zone_.to_sys(reset - before_reset), zone_.to_sys(reset + after_reset)};
    }
    const local_days last_saturday = today - (weekday(today) - Saturday);
    for (const local_days saturday : {last_saturday, last_saturday + weeks(1)})
        candidates[n++] = {kind::weekly_maintenance, zone_.to_sys(saturday + weekly_start),
                           zone_.to_sys(saturday + days(1) + weekly_end)};

    std::optional<maintenance_window> found;
    for (const auto& c : candidates)
        if (c.start <= at && at < c.end && (!found || c.kind == kind::weekly_maintenance)) found = c;
    if (!found) return std::nullopt;
    // Overlapping windows are one: grow until nothing more overlaps (at most a few rounds).
    for (bool grew = true; grew;) {
        grew = false;
        for (const auto& c : candidates) {
            if (c.start < found->end && found->start < c.end && (c.start < found->start || c.end > found->end)) {
                found->start = std::min(found->start, c.start);
                found->end = std::max(found->end, c.end);
                if (c.kind == kind::weekly_maintenance) found->kind = kind::weekly_maintenance;
                grew = true;
            }
        }
    }
    return found;
}

std::string ibkr_calendar::describe(const maintenance_window& w) const {
    const sys_seconds end = ceil<seconds>(w.end);
    const auto local_end = zone_.to_local(end);
    const std::string until = fmt::format("until {} {}", hh_mm(local_end - floor<days>(local_end)),
                                          zone_.abbreviation_at(end));
    if (w.kind == maintenance_window::kind_t::weekly_maintenance)
        return fmt::format("IBKR's weekly maintenance (Saturday evening in {}), {}", names_of(region_).place, until);
    return fmt::format("IBKR's daily reset ({} in {}), {}", hh_mm(reset_time_), names_of(region_).place, until);
}

}  // namespace sessiond
