#include "sessiond/session/backoff_schedule.hpp"

#include <algorithm>

namespace sessiond {

backoff_schedule::backoff_schedule(std::chrono::milliseconds initial, std::chrono::milliseconds max)
    : initial_(std::max(initial, std::chrono::milliseconds(1))), max_(std::max(max, initial_)) {}

std::chrono::milliseconds backoff_schedule::base(int attempt) const noexcept {
    if (attempt <= 0) return std::chrono::milliseconds(0);
    auto d = initial_;
    for (int i = 1; i < attempt && d < max_; ++i) d *= 2;
    return std::min(d, max_);
}

std::chrono::milliseconds backoff_schedule::delay(int attempt, double u) const noexcept {
    const auto b = base(attempt);
    u = std::clamp(u, 0.0, 1.0);
    const auto half = b.count() / 2;
    return std::chrono::milliseconds(b.count() - static_cast<long long>(static_cast<double>(half) * u));
}

}  // namespace sessiond
