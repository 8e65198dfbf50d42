#pragma once
// The guide's "Test Connection" report: OAuth, SSO, validation and brokerage initialisation, each
// with its outcome and duration (test_tracker.hpp builds it from the session's own calls). It
// answers "does this configuration work right now, and if not, at which step does it fail".

#include "sessiond/ibkr/outcome.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace sessiond {

struct test_step_report {
    enum class result_t { passed, failed, skipped };
    std::string name;  // "oauth", "sso", "validate", "init", then "logout"
    result_t result = result_t::skipped;
    int http_status = 0;
    std::chrono::milliseconds duration{0};
    // The failure in full, IBKR's own error text and the call included: the log, the CLI, and API
    // clients in development mode.
    std::string detail;
    // The failure as production mode tells an API client: the HTTP status or kind of failure and the
    // guide's hint, never IBKR's text or the daemon's internals.
    std::string summary;
    std::string kind;  // the failure's kind ("unauthorized", "transport", ...): with the step, a stable code
};

std::string_view to_string(test_step_report::result_t r) noexcept;

struct connection_test_report {
    std::vector<test_step_report> steps;
    // Set when IBKR's limits (the login budget, a pace, a 429 penalty) did not allow the next call
    // now: why, and when they will. The test did not fail; it could not run.
    std::string not_now;
    [[nodiscard]] bool passed() const noexcept;
    // The first step that failed, or empty.
    [[nodiscard]] std::string failed_step() const;
};

// One step's line of the report from the outcome of its call (with the guide's troubleshooting
// hint on failure).
test_step_report step_report(std::string name, const step_outcome& o);

// Fixed-width lines for a terminal, ending with a verdict line.
std::string format_test_report(const connection_test_report& report);
// POST /api/ibkr/test's answer. The guide's shape: "success", "message" (one line) and "steps" with
// oauth, sso, validate and init, each {status, success, message}; the daemon's own list of every
// call is "step_results" ([{step, outcome, http_status, duration_ms, detail}]). The guide's init is
// the daemon's init and accounts together. `development`: details in full, with the call made;
// otherwise the summaries, and "error_code" ("<step>.<kind>") names a failure.
boost::json::object to_json(const connection_test_report& report, bool development = true);
// The report read back from to_json()'s form (the daemon's POST /api/ibkr/test answer), so that
// the CLI prints a daemon's report with the same format_test_report. The error names what is wrong.
expected<connection_test_report> report_from_json(const boost::json::value& v);

}  // namespace sessiond
