#pragma once
// A Prometheus histogram: observations counted into fixed buckets, plus their sum and count.
//
// Bucket i counts the values v with bounds[i-1] < v <= bounds[i] (Prometheus `le` semantics: a value
// equal to a bound belongs to that bound's bucket); the last bucket, past every bound, is the
// implicit +Inf one. Memory is fixed at construction, whatever is observed. Not synchronised: it
// lives on the event loop like everything that feeds it.

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace sessiond {

class histogram {
public:
    // The bounds must be finite and strictly increasing (possibly none: then +Inf is the only
    // bucket). Anything else is a programming error and aborts.
    explicit histogram(std::vector<double> upper_bounds);
    // Bounds shared with other histograms (request_duration_buckets()): a session keeps seven.
    explicit histogram(std::shared_ptr<const std::vector<double>> upper_bounds);

    // NaN is ignored: it has no bucket, and it would turn the sum into NaN for good.
    void observe(double value) noexcept;

    [[nodiscard]] const std::vector<double>& bounds() const noexcept { return *bounds_; }
    // Per bucket, not cumulative: bounds().size() + 1 entries, the last one for +Inf.
    [[nodiscard]] std::span<const std::uint64_t> bucket_counts() const noexcept { return counts_; }
    [[nodiscard]] double sum() const noexcept { return sum_; }
    [[nodiscard]] std::uint64_t count() const noexcept { return count_; }

private:
    std::shared_ptr<const std::vector<double>> bounds_;
    std::vector<std::uint64_t> counts_;
    double sum_ = 0.0;
    std::uint64_t count_ = 0;
};

// Seconds, for IBKR request durations: a healthy call takes tens to hundreds of milliseconds, a
// call that runs into IBKR_HTTP_TIMEOUT (10 s by default) lands in the last finite buckets.
// One vector for every histogram that uses them.
const std::shared_ptr<const std::vector<double>>& request_duration_buckets();

}  // namespace sessiond
