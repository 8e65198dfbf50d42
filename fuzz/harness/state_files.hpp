#pragma once
// The files the daemon reads at start besides its settings: the pacing record in its state
// directory (a crash, a full disk or a person may leave anything there) and the TZif time zone file
// of IBKR's region. Any bytes are refused with a one-line message that never echoes them, or read
// into values that keep their promises.

#include "check.hpp"

#include "sessiond/core/time_zone.hpp"
#include "sessiond/pacing/pacing_file.hpp"

#include <chrono>
#include <string>
#include <string_view>

namespace sessiond::fuzz {

inline std::string pacing_record(std::string_view input) {
    using namespace std::chrono;
    const wall_time now = wall_time(milliseconds(1'780'000'000'000));
    const login_budget_settings limits{seconds(10), 30};
    const auto r = parse_pacing_record(input, limits, now);
    if (!r) {
        if (auto bad = check_one_line("parse_pacing_record error", r.error().message, 200); !bad.empty()) return bad;
        // Messages name the line; the only input they may quote is a short version number.
        if (input.size() > 24 && contains_quietly(r.error().message, input.substr(0, 24))) return "the error echoes the input";
        return {};
    }
    const auto& logins = r->logins.recent();
    if (logins.size() > 30) return "kept more than per_hour logins";
    for (std::size_t i = 0; i < logins.size(); ++i) {
        if (logins[i] > now) return "a login after now";
        if (logins[i] <= now - hours(1)) return "a login an hour old or older";
        if (i > 0 && logins[i] < logins[i - 1]) return "logins out of order";
    }
    if (r->last_validate && *r->last_validate > now) return "a validate after now";
    // Written back and read again: the same record (times were whole milliseconds already).
    const auto again = parse_pacing_record(serialize_pacing(r->logins, r->last_validate), limits, now);
    if (!again) return "its own serialization is refused: " + again.error().message;
    if (again->logins.recent() != logins || again->last_validate != r->last_validate) return "does not round-trip";
    return {};
}

inline std::string tzif(std::string_view input) {
    using namespace std::chrono;
    const auto zone = time_zone::from_tzif(input, "fuzz/Zone");
    if (!zone) return check_one_line("from_tzif error", zone.error().message, 200);
    // Offsets are within a day, and local times convert back to instants near them.
    for (const std::int64_t t : {-4'000'000'000LL, 0LL, 1'780'000'000LL, 2'200'000'000LL, 4'102'444'800LL, 32'503'680'000LL}) {
        const sys_seconds at{seconds(t)};
        const auto offset = zone->offset_at(at);
        if (offset <= -hours(25) || offset >= hours(26)) return "offset beyond a day";
        const auto back = zone->to_sys(zone->to_local(at));
        if (back - at > hours(26) || at - back > hours(26)) return "to_sys(to_local(t)) is more than a day from t";
        (void)zone->abbreviation_at(at);
    }
    return {};
}

}  // namespace sessiond::fuzz
