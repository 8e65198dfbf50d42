#include "sessiond/session/connection_test.hpp"

#include "sessiond/ibkr/verdicts.hpp"

#include <fmt/format.h>

#include <boost/beast/http/verb.hpp>

#include <algorithm>
#include <optional>

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
        const endpoint call = endpoint_of(o.which);
        const bool ibkr_answered = o.http_status != 0;
        r.kind = std::string(to_string(o.kind));
        r.detail = o.detail;
        if (ibkr_answered)
            r.detail = fmt::format("{} {} answered HTTP {}: {}", std::string_view(boost::beast::http::to_string(call.method)),
                                   call.path, o.http_status, o.detail);
        r.summary = public_failure(o.which, o.kind, o.http_status);
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

namespace {

// The step a report line names ("accounts" is step::accounts), as the guide counts it.
std::optional<step> guide_step_named(std::string_view name) {
    for (const step s : all_steps)
        if (to_string(s) == name) return guide_step_of(s);
    return std::nullopt;
}

boost::json::object guide_step(const connection_test_report& report, step which, bool development) {
    const test_step_report* found = nullptr;
    for (const auto& s : report.steps) {
        const bool mine = guide_step_named(s.name) == which;
        if (mine && (found == nullptr || found->result == result_t::passed)) found = &s;
    }
    if (found == nullptr) return {{"status", 0}, {"success", false}, {"message", "not run"}};
    std::string message = found->result == result_t::passed    ? "ok"
                          : found->result == result_t::skipped ? "skipped: " + found->detail
                          : development                        ? found->detail
                                                               : found->summary;
    if (message == "skipped: ") message = "skipped";
    return {{"status", found->http_status}, {"success", found->result == result_t::passed}, {"message", std::move(message)}};
}

}  // namespace

boost::json::object to_json(const connection_test_report& report, bool development) {
    boost::json::array results;
    for (const auto& s : report.steps) {
        const bool failed = s.result == result_t::failed;
        boost::json::object o{{"step", s.name},
                              {"outcome", to_string(s.result)},
                              {"duration_ms", s.duration.count()},
                              {"detail", failed && !development ? s.summary : s.detail}};
        o["http_status"] = s.http_status != 0 ? boost::json::value(s.http_status) : boost::json::value(nullptr);
        results.push_back(std::move(o));
    }
    boost::json::object steps;
    for (const step which : guide_steps) steps[to_string(which)] = guide_step(report, which, development);
    const bool passed = report.passed();
    const std::string failed = report.failed_step();
    boost::json::object out{{"success", passed}, {"passed", passed}, {"steps", std::move(steps)}, {"step_results", std::move(results)}};
    out["failed_step"] = passed ? boost::json::value(nullptr) : boost::json::value(failed);
    out["error_code"] = nullptr;
    std::string message = passed ? "connection test passed: OAuth, SSO, validate and init all succeeded" : "connection test failed";
    if (!passed) {
        for (const auto& s : report.steps) {
            if (s.result != result_t::failed) continue;
            out["error_code"] = s.name + "." + s.kind;
            message += " at " + s.name + ": " + (development ? s.detail : s.summary);
            break;
        }
        if (failed.empty() && !report.not_now.empty()) message += ": " + report.not_now;
    }
    out["message"] = std::move(message);
    return out;
}

expected<connection_test_report> report_from_json(const boost::json::value& v) {
    const auto* steps = v.is_object() ? v.as_object().if_contains("step_results") : nullptr;
    if (steps == nullptr || !steps->is_array()) return make_error("no \"step_results\" array");
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
    if (report.steps.empty()) return make_error("the \"step_results\" array is empty");
    return report;
}

}  // namespace sessiond
