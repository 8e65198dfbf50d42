#pragma once
// Writes metrics in the Prometheus text exposition format, version 0.0.4: what `GET /metrics` serves.
//
//   prometheus_text out;
//   out.family("ibkr_requests_total", prometheus_text::type::counter, "IBKR requests by step.");
//   out.sample({{"step", "tickle"}}, 42);
//   out.family("ibkr_request_duration_seconds", prometheus_text::type::histogram, "...");
//   out.histogram({{"step", "tickle"}}, tickle_durations);
//   std::string body = out.take();
//
// Pure: no I/O, no clock. Two kinds of input, treated differently:
// - names, types and the order of calls are fixed in the code that writes the metrics; a mistake
//   there (an invalid or reserved name, a family written twice, a sample outside a family, a
//   duplicated label name) is a programming error and aborts, in every build;
// - label values, help texts and sample values are data: any byte sequence is escaped into a valid
//   exposition (invalid UTF-8 becomes U+FFFD) and never aborts. Writing the same series twice is
//   the caller's to avoid; the test-side parser (tests/support/prometheus_parser) rejects it.

#include "sessiond/metrics/histogram.hpp"

#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sessiond {

// Written in the order given, which is the order the lines show them.
using label_set = std::vector<std::pair<std::string, std::string>>;

inline constexpr std::string_view prometheus_content_type = "text/plain; version=0.0.4; charset=utf-8";

// "3" and "0" for integral values up to 2^53 (counters read as integers, never "1e+06"); otherwise
// the shortest text that parses back to the same double; "+Inf", "-Inf", "NaN". -0 is written "0".
std::string format_prometheus_value(double value);

class prometheus_text {
public:
    enum class type { counter, gauge, histogram };

    // Starts a family: `# HELP` (omitted text when help is empty) and `# TYPE`. Every name a family
    // can write (for a histogram: name_bucket, name_sum, name_count) must be new to this exposition.
    // Counters are named as given; by convention their names end in `_total`.
    void family(std::string_view name, type t, std::string_view help);

    // A sample of the current family, named after it. Counters and gauges only.
    void sample(const label_set& labels, double value);
    // A sample named family name + suffix. Counters and gauges take only ""; a histogram written
    // by hand takes "_bucket" (with an `le` label), "_sum" and "_count".
    void sample(std::string_view suffix, const label_set& labels, double value);
    // One series of the current histogram family: cumulative `_bucket` lines up to le="+Inf", then
    // `_sum` and `_count`, each with `labels` (which must not contain `le`).
    void histogram(const label_set& labels, const sessiond::histogram& h);

    // The exposition written so far (every line ends with '\n'; empty when nothing was written),
    // and a fresh start: the next family() may reuse any name.
    [[nodiscard]] std::string take();

private:
    void require_family() const;
    void write_sample(std::string_view suffix, const label_set& labels, std::string_view le, double value);

    std::string out_;
    std::string family_;  // empty until the first family()
    type type_ = type::gauge;
    // Every sample name the families written so far may use: no two families may share one.
    std::set<std::string, std::less<>> claimed_names_;
};

}  // namespace sessiond
