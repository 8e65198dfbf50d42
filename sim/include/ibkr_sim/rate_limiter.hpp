#pragma once
// IBKR's pacing: at most `limit` accepted calls in any window of `window` ("/tickle 1 req/s",
// "/sso/validate 1 req/min" are limit 1; "10 req/s total" is limit 10 over 1 s). A call that would
// be one too many is refused with 429. Refused calls do not move the window.

#include "ibkr_sim/sim_config.hpp"
#include "ibkr_sim/sim_types.hpp"

#include <algorithm>
#include <cstddef>
#include <vector>

namespace sessiond::sim {

class sliding_window_limiter {
public:
    sliding_window_limiter(std::size_t limit, sim_duration window) : limit_(limit), window_(window) {}

    // Accepts (and remembers) the call when fewer than `limit` calls were accepted in (now - window, now]:
    // a call accepted exactly `window` ago no longer counts.
    bool try_acquire(wall_time now) {
        // A wall clock that stepped backwards must not lock the user out: calls "in the future" are forgotten.
        if (count_ > 0 && ring_[(oldest_ + count_ - 1) % ring_.size()] > now) count_ = 0;
        while (count_ > 0 && now - ring_[oldest_] >= window_) {
            oldest_ = (oldest_ + 1) % ring_.size();
            --count_;
        }
        if (count_ >= limit_) return false;
        if (count_ == ring_.size()) {  // full below the limit: grow, the oldest first
            std::rotate(ring_.begin(), ring_.begin() + static_cast<std::ptrdiff_t>(oldest_), ring_.end());
            oldest_ = 0;
            ring_.push_back(now);
        } else {
            ring_[(oldest_ + count_) % ring_.size()] = now;
        }
        ++count_;
        return true;
    }
    void reset() noexcept { count_ = 0; }

private:
    std::size_t limit_;
    sim_duration window_;
    // The accepted calls, a ring of at most limit_ entries starting at oldest_. Allocated on first
    // use, so that the limiters of users who never call cost no heap (10,000 users are configurable).
    std::vector<wall_time> ring_;
    std::size_t oldest_ = 0;
    std::size_t count_ = 0;
};

}  // namespace sessiond::sim
