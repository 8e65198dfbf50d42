#pragma once
// The login budget: how often the daemon may start a full login (the OAuth token request that
// begins token + SSO), whatever fails and whatever restarts. IBKR locks accounts that log in too
// often, so two rules hold across crashes, restarts and clock steps (a rate_window of an hour):
//
//   - two logins are never closer than min_spacing (a login exactly min_spacing after the last is allowed);
//   - no 60-minute window holds more than per_hour logins: a login at t is allowed when fewer than
//     per_hour logins lie in (t - 60 min, t], so one made exactly an hour ago no longer counts.
//
// Pure: the caller passes the time. A wall clock (not steady) because the record outlives the
// process. Attempts stamped after `now` mean the clock stepped back: they count as made just now,
// so a clock step can never unlock a storm (see rate_window::advance()).

#include "sessiond/pacing/rate_window.hpp"

#include <algorithm>
#include <chrono>

namespace sessiond {

struct login_budget_settings {
    std::chrono::milliseconds min_spacing{10'000};  // negative is read as 0
    int per_hour = 30;                              // below 1 is read as 1: a budget never forbids logging in for good
};

class login_budget {
public:
    static constexpr std::chrono::minutes window{60};

    explicit login_budget(login_budget_settings s);

    // When the next login may start: `now` when allowed, else the earliest time both rules allow.
    [[nodiscard]] wall_time next_allowed(wall_time now) const { return window_.next_allowed(now); }
    [[nodiscard]] bool allows(wall_time now) const { return window_.allows(now); }

    // A login started at `at`. Recorded even when the budget did not allow it: it happened.
    void record(wall_time at) { window_.record(at); }

    // Brings the record up to `now`: forgets attempts that left the window and pulls attempts stamped
    // after `now` back to `now`. next_allowed() already reads future attempts as "now" without this,
    // but cannot see time pass for them: after the clock steps back by a day, a caller that never
    // advances waits a day. Call it before each consult (record() does it for its own time).
    void advance(wall_time now) { window_.advance(now); }

    // The attempts kept, oldest first, as of the last record() or advance(): at most per_hour, none
    // older than an hour then. Bounded memory however often record() is called.
    [[nodiscard]] const time_points& recent() const noexcept { return window_.recent(); }
    [[nodiscard]] login_budget_settings limits() const noexcept { return {window_.min_spacing(), window_.limit()}; }

    // Lowering per_hour forgets the oldest attempts beyond it (so raising it again within the hour
    // allows more than either limit would have).
    void reconfigure(login_budget_settings s);

    // Adds another record's attempts (a session this one replaces for the same username), keeping
    // this budget's limits.
    void merge(const login_budget& other) {
        for (const wall_time t : other.recent()) window_.insert(t);
    }
    // Adds the attempts of a record this budget may already hold in part (several replicas share
    // one record): an attempt at a time already counted is not counted twice.
    void merge_new(const login_budget& other) {
        for (const wall_time t : other.recent())
            if (std::find(window_.recent().begin(), window_.recent().end(), t) == window_.recent().end())
                window_.insert(t);
    }

    // A login read back from a record (pacing_file.hpp), at `at` as of `now`: one an hour old or
    // older is forgotten, one ahead of `now` must be `now` already; the newest per_hour are kept.
    void add_restored(wall_time at, wall_time now) {
        if (at > now - window) window_.insert(std::min(at, now));
    }

private:
    rate_window window_;
};

}  // namespace sessiond
