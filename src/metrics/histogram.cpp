#include "sessiond/metrics/histogram.hpp"

#include "contract.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

namespace sessiond {

histogram::histogram(std::vector<double> upper_bounds)
    : histogram(std::make_shared<const std::vector<double>>(std::move(upper_bounds))) {}

histogram::histogram(std::shared_ptr<const std::vector<double>> upper_bounds) : bounds_(std::move(upper_bounds)) {
    const std::vector<double>& b = *bounds_;
    for (std::size_t i = 0; i < b.size(); ++i) {
        // +Inf is always the last bucket; an explicit one would be written twice.
        if (!std::isfinite(b[i])) metrics_detail::contract_violated("histogram bounds must be finite");
        if (i > 0 && !(b[i - 1] < b[i])) metrics_detail::contract_violated("histogram bounds must be strictly increasing");
    }
    counts_.assign(b.size() + 1, 0);
}

void histogram::observe(double value) noexcept {
    if (std::isnan(value)) return;
    // The first bound >= value: a value equal to a bound is counted under that bound's `le`.
    const auto bucket = std::lower_bound(bounds_->begin(), bounds_->end(), value) - bounds_->begin();
    ++counts_[static_cast<std::size_t>(bucket)];
    sum_ += value;
    ++count_;
}

const std::shared_ptr<const std::vector<double>>& request_duration_buckets() {
    static const auto bounds =
        std::make_shared<const std::vector<double>>(std::vector<double>{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
    return bounds;
}

}  // namespace sessiond
