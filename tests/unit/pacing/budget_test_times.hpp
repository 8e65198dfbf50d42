#pragma once
// What the login budget and pacing record tests share: the instant they start from, and a shorthand
// for the budget's settings.

#include "sessiond/pacing/login_budget.hpp"

#include <chrono>

namespace sessiond::budget_test {

// A whole number of milliseconds, as the pacing record stores them and reads them back.
inline const wall_time t0 = wall_time(std::chrono::milliseconds(1'780'000'000'000));

inline login_budget_settings limits(std::chrono::milliseconds spacing, int per_hour) { return {spacing, per_hour}; }

}  // namespace sessiond::budget_test
