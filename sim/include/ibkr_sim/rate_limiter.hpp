#pragma once
// IBKR's per-endpoint pacing ("/tickle 1 req/s", "/sso/validate 1 req/min"): a call closer than the
// interval to the last accepted call is refused with 429. Refused calls do not move the window.

#include "ibkr_sim/sim_config.hpp"
#include "ibkr_sim/sim_types.hpp"

#include <optional>

namespace sessiond::sim {

class min_interval_limiter {
public:
    explicit min_interval_limiter(sim_duration interval) : interval_(interval) {}

    bool try_acquire(wall_time now) {
        // A wall clock that stepped backwards must not lock the user out.
        if (last_ && now >= *last_ && now - *last_ < interval_) return false;
        last_ = now;
        return true;
    }
    void reset() noexcept { last_.reset(); }

private:
    sim_duration interval_;
    std::optional<wall_time> last_;
};

}  // namespace sessiond::sim
