#pragma once
// IBKR's pacing: at most `limit` accepted calls in any window of `window` ("/tickle 1 req/s",
// "/sso/validate 1 req/min" are limit 1; "10 req/s total" is limit 10 over 1 s). A call that would
// be one too many is refused with 429. Refused calls do not move the window.

#include "ibkr_sim/sim_config.hpp"
#include "ibkr_sim/sim_types.hpp"

#include <cstddef>
#include <deque>

namespace sessiond::sim {

class sliding_window_limiter {
public:
    sliding_window_limiter(std::size_t limit, sim_duration window) : limit_(limit), window_(window) {}

    // Accepts (and remembers) the call when fewer than `limit` calls were accepted in (now - window, now]:
    // a call accepted exactly `window` ago no longer counts.
    bool try_acquire(wall_time now) {
        // A wall clock that stepped backwards must not lock the user out: calls "in the future" are forgotten.
        if (!accepted_.empty() && accepted_.back() > now) accepted_.clear();
        while (!accepted_.empty() && now - accepted_.front() >= window_) accepted_.pop_front();
        if (accepted_.size() >= limit_) return false;
        accepted_.push_back(now);
        return true;
    }
    void reset() noexcept { accepted_.clear(); }

private:
    std::size_t limit_;
    sim_duration window_;
    std::deque<wall_time> accepted_;  // oldest first, at most limit_ entries
};

}  // namespace sessiond::sim
