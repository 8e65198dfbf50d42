#pragma once
// Exponential backoff with jitter, capped. Pure: the random sample is a parameter.
//
// Attempt n (1-based) has the base delay initial * 2^(n-1), capped at max; the delay actually used
// is drawn from [base/2, base], so retries of many daemons spread out, no delay ever exceeds the
// cap, and none is shorter than half the schedule.

#include <chrono>

namespace sessiond {

class backoff_schedule {
public:
    backoff_schedule(std::chrono::milliseconds initial, std::chrono::milliseconds max);

    [[nodiscard]] std::chrono::milliseconds base(int attempt) const noexcept;
    // u is a sample of U[0, 1).
    [[nodiscard]] std::chrono::milliseconds delay(int attempt, double u) const noexcept;
    [[nodiscard]] std::chrono::milliseconds cap() const noexcept { return max_; }

private:
    std::chrono::milliseconds initial_;
    std::chrono::milliseconds max_;
};

}  // namespace sessiond
