#include "sessiond/session/connection_test.hpp"

#include "sessiond/ibkr/verdicts.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace sessiond {

using std::chrono::milliseconds;
using result_t = test_step_report::result_t;

std::string_view to_string(result_t r) noexcept {
    switch (r) {
        case result_t::passed: return "passed";
        case result_t::failed: return "failed";
        case result_t::skipped: return "skipped";
    }
    return "unknown";
}

bool connection_test_report::passed() const noexcept {
    return !steps.empty() && std::none_of(steps.begin(), steps.end(), [](const test_step_report& s) {
               return s.result != result_t::passed && s.name != "logout";
           });
}

std::string connection_test_report::failed_step() const {
    for (const auto& s : steps)
        if (s.result == result_t::failed) return s.name;
    return {};
}

test_step_report step_report(std::string name, const step_outcome& o) {
    test_step_report r;
    r.name = std::move(name);
    r.result = o.ok() ? result_t::passed : result_t::failed;
    r.http_status = o.http_status;
    r.duration = o.duration;
    if (!o.ok()) {
        r.detail = o.detail;
        if (const auto hint = troubleshooting_hint(o.which, o.kind, o.http_status); !hint.empty())
            r.detail += "; " + std::string(hint);
    }
    return r;
}

std::string format_test_report(const connection_test_report& report) {
    std::string out;
    for (const auto& s : report.steps) {
        out += fmt::format("{:<9} {:<8} {:>4} {:>7}  {}\n", s.name, to_string(s.result),
                           s.http_status != 0 ? std::to_string(s.http_status) : "-",
                           s.result == result_t::skipped ? "" : fmt::format("{} ms", s.duration.count()), s.detail);
    }
    if (report.passed())
        out += "connection test passed\n";
    else
        out += "connection test FAILED at step " + report.failed_step() + "\n";
    return out;
}

boost::json::object to_json(const connection_test_report& report) {
    boost::json::array steps;
    for (const auto& s : report.steps) {
        boost::json::object o{{"step", s.name},
                              {"outcome", to_string(s.result)},
                              {"duration_ms", s.duration.count()},
                              {"detail", s.detail}};
        o["http_status"] = s.http_status != 0 ? boost::json::value(s.http_status) : boost::json::value(nullptr);
        steps.push_back(std::move(o));
    }
    boost::json::object out{{"passed", report.passed()}, {"steps", std::move(steps)}};
    out["failed_step"] = report.passed() ? boost::json::value(nullptr) : boost::json::value(report.failed_step());
    return out;
}

expected<connection_test_report> report_from_json(const boost::json::value& v) {
    const auto* steps = v.is_object() ? v.as_object().if_contains("steps") : nullptr;
    if (steps == nullptr || !steps->is_array()) return make_error("no \"steps\" array");
    connection_test_report report;
    for (const auto& item : steps->as_array()) {
        const std::string where = "step " + std::to_string(report.steps.size() + 1);
        if (!item.is_object()) return make_error(where + " is not an object");
        const auto& o = item.as_object();
        const auto* name = o.if_contains("step");
        const auto* outcome = o.if_contains("outcome");
        if (name == nullptr || !name->is_string() || outcome == nullptr || !outcome->is_string())
            return make_error(where + " has no \"step\" or \"outcome\" string");
        test_step_report s;
        s.name = std::string(name->as_string());
        if (*outcome == "passed")
            s.result = result_t::passed;
        else if (*outcome == "failed")
            s.result = result_t::failed;
        else if (*outcome == "skipped")
            s.result = result_t::skipped;
        else
            return make_error(where + ": outcome is not passed, failed or skipped");
        if (const auto* ms = o.if_contains("duration_ms"); ms != nullptr && ms->is_number()) {
            boost::system::error_code ec;
            const auto n = ms->to_number<std::int64_t>(ec);
            if (ec || n < 0) return make_error(where + ": duration_ms is not a count of milliseconds");
            s.duration = milliseconds(n);
        }
        if (const auto* status = o.if_contains("http_status"); status != nullptr && !status->is_null()) {
            boost::system::error_code ec;
            const auto n = status->to_number<int>(ec);
            if (ec || n < 0 || n > 999) return make_error(where + ": http_status is not an HTTP status");
            s.http_status = n;
        }
        if (const auto* detail = o.if_contains("detail"); detail != nullptr && detail->is_string())
            s.detail = std::string(detail->as_string());
        report.steps.push_back(std::move(s));
    }
    if (report.steps.empty()) return make_error("the \"steps\" array is empty");
    return report;
}

}  // namespace sessiond
