#pragma once
// How the metrics code reports a programming error: a wrong name, a family written twice, a sample
// outside its family. These are visible at the call site, so they abort in every build (not only
// where assert() is on): a release daemon must never serve an exposition that Prometheus rejects.

#include <string_view>

namespace sessiond::metrics_detail {

// `subject` is a metric or label name, never a label value: values are caller data.
[[noreturn]] void contract_violated(std::string_view what, std::string_view subject = {});

}  // namespace sessiond::metrics_detail
