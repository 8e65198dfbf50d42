#pragma once
// A strict parser of the Prometheus text exposition format 0.0.4, for tests: what `GET /metrics`
// serves must pass it. Stricter than Prometheus itself where the daemon has no reason to differ:
//
// - every sample follows its own family's `# TYPE` (no untyped samples without a TYPE line), and a
//   family's lines are contiguous: HELP/TYPE/samples of one family are not split by another's;
// - HELP and TYPE at most once per family; TYPE one of counter, gauge, histogram, summary, untyped;
// - no two families can write the same sample name (histogram `x` owns x_bucket, x_sum, x_count);
// - names, label names (not starting with "__"), escapes (\\ \" \n in label values, \\ \n in
//   help), UTF-8 in label values and help, and values ("+Inf", "-Inf", "NaN" or a decimal number)
//   are checked; an optional integer timestamp (milliseconds) may follow the value;
// - no duplicated label name, no duplicated series (an empty label value counts as absent, as in
//   Prometheus, so x{a=""} and x are the same series);
// - counters are not negative nor NaN; each histogram series has increasing `le` bounds ending in
//   "+Inf", non-decreasing (cumulative) bucket counts, a `_count` equal to the +Inf bucket and a
//   `_sum`;
// - the text ends with a newline (or is empty).
//
// Errors name the line and what is wrong. The checks are written independently of the writer in
// src/metrics on purpose: a test oracle that shared the writer's code would share its bugs.

#include "sessiond/core/error.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sessiond::testing {

enum class metric_type { counter, gauge, histogram, summary, untyped };

using label_map = std::map<std::string, std::string, std::less<>>;

struct sample {
    std::string name;  // the family name plus, for histograms and summaries, its suffix
    label_map labels;  // unescaped
    double value = 0.0;
    std::optional<std::int64_t> timestamp_ms;
    int line = 0;
};

struct metric_family {
    std::string name;
    metric_type type = metric_type::untyped;  // untyped also when there is only a HELP line
    std::optional<std::string> help;         // unescaped
    std::vector<sample> samples;
};

class exposition {
public:
    exposition() = default;
    explicit exposition(std::vector<metric_family> families) : families_(std::move(families)) {}

    // In the order of the text.
    [[nodiscard]] const std::vector<metric_family>& families() const noexcept { return families_; }
    [[nodiscard]] const metric_family* family(std::string_view name) const;
    // The value of the series with exactly this sample name and these labels.
    [[nodiscard]] std::optional<double> value_of(std::string_view sample_name, const label_map& labels = {}) const;

private:
    std::vector<metric_family> families_;
};

expected<exposition> parse_prometheus_text(std::string_view text);

}  // namespace sessiond::testing
