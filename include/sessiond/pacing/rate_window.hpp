#pragma once
// The rule behind every limit the daemon keeps towards IBKR: at most `limit` events in any sliding
// `window`, and two events never closer than `min_spacing`. The login budget applies it over an hour
// (logins), the session machine over a second (requests, IBKR's global rate).
//
//   - an event exactly min_spacing after the last is allowed;
//   - an event at t is allowed when fewer than `limit` events lie in (t - window, t], so one made
//     exactly `window` ago no longer counts.
//
// Pure: the caller passes the time. Events stamped after `now` mean the wall clock stepped back:
// they count as made just now, so a clock step can never open the window early (see advance()).
// Memory is bounded by `limit`, however many events are recorded.

#include <chrono>
#include <vector>

namespace sessiond {

using wall_time = std::chrono::system_clock::time_point;

// A few request times, sorted, oldest first. A vector, not a deque: a deque allocates its first
// 512-byte block however few it holds, and a username keeps one per limited endpoint (8 KiB a
// session in multi-user mode, measured).
using time_points = std::vector<wall_time>;

class rate_window {
public:
    // A limit below 1 is read as 1 (a limit never forbids an event for good), a negative spacing as 0.
    rate_window(std::chrono::milliseconds window, int limit, std::chrono::milliseconds min_spacing);

    // `now` when an event is allowed now, else the earliest time both rules allow one.
    [[nodiscard]] wall_time next_allowed(wall_time now) const { return next_allowed(now, limit_); }
    // The same with a lower limit (1 at least): a caller that must leave room for others.
    [[nodiscard]] wall_time next_allowed(wall_time now, int limit) const;
    [[nodiscard]] bool allows(wall_time now) const { return next_allowed(now) <= now; }

    // An event at `at`; recorded even when it was not allowed: it happened.
    void record(wall_time at);
    // The event recorded at `from` happened at `to` instead (later: a request that left after it
    // started). Nothing changes when no event has that stamp or `to` is not later.
    void move(wall_time from, wall_time to);
    // An event restored from a record (any order): kept in order, and only the newest `limit` remain.
    void insert(wall_time at);

    // Forgets events that left the window and pulls events stamped after `now` back to `now`.
    // next_allowed() already reads future events as "now", but cannot see time pass for them: after
    // the clock steps back by a day, a caller that never advances waits a day.
    void advance(wall_time now);

    // Lowering the limit forgets the oldest events beyond it.
    void set_limits(int limit, std::chrono::milliseconds min_spacing);

    // The events kept, oldest first: at most `limit`, none older than `window` as of the last
    // record() or advance().
    [[nodiscard]] const time_points& recent() const noexcept { return recent_; }
    [[nodiscard]] std::chrono::milliseconds window() const noexcept { return window_; }
    [[nodiscard]] int limit() const noexcept { return limit_; }
    [[nodiscard]] std::chrono::milliseconds min_spacing() const noexcept { return min_spacing_; }

private:
    void keep_newest();

    std::chrono::milliseconds window_;
    int limit_;
    std::chrono::milliseconds min_spacing_;
    time_points recent_;  // sorted, oldest first
};

}  // namespace sessiond
