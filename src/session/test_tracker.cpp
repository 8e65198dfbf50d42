#include "sessiond/session/test_tracker.hpp"

#include "sessiond/core/time_format.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace sessiond {

using result_t = test_step_report::result_t;
using std::chrono::milliseconds;

namespace {

constexpr std::array<std::string_view, 4> test_steps{"oauth", "sso", "validate", "init"};

std::string since(const std::optional<wall_time>& t) {
    if (!t) return "held by the running session";
    return "held by the running session since " + iso8601_utc(*t);
}

void pass_as_held(test_step_report& r, std::string detail) {
    r.result = result_t::passed;
    r.detail = std::move(detail);
}

}  // namespace

test_tracker::test_tracker(const session_snapshot& at_start) {
    for (const auto name : test_steps) report_.steps.push_back({std::string(name), result_t::skipped, 0, milliseconds(0), {}});
    const std::string held = since(at_start.logged_in_at);
    verifying_ = at_start.state == lifecycle::connected;
    // Steps the running session has already passed are reported as such, not repeated.
    const step next = at_start.current_step;
    const bool sso_held = verifying_ || (next != step::oauth && next != step::sso);
    const bool validated = verifying_ || next == step::init || next == step::accounts || next == step::tickle;
    if (sso_held) {
        pass_as_held(line(step::oauth), held);
        pass_as_held(line(step::sso), held);
    }
    if (validated) {
        pass_as_held(line(step::validate),
                     at_start.login_type ? std::string(to_string(*at_start.login_type)) + " login" : held);
    }
}

test_step_report& test_tracker::line(step s) {
    switch (s) {
        case step::oauth: return report_.steps[0];
        case step::sso: return report_.steps[1];
        case step::validate: return report_.steps[2];
        default: return report_.steps[3];  // init, accounts and tickle all belong to step 4
    }
}

bool test_tracker::finish() {
    complete_ = true;
    return true;
}

void test_tracker::fail_pending(std::string why) {
    auto it = std::find_if(report_.steps.begin(), report_.steps.end(),
                           [](const test_step_report& r) { return r.result != result_t::passed; });
    if (it == report_.steps.end()) it = report_.steps.end() - 1;
    it->result = result_t::failed;
    it->detail = std::move(why);
}

bool test_tracker::on_outcome(const step_outcome& o, const session_snapshot& after) {
    if (complete_) return true;
    if (o.kind == failure::cancelled) {
        fail_pending("cancelled: the daemon is stopping");
        return finish();
    }
    if (after.state == lifecycle::halted) {
        on_halted(after);
        return true;
    }
    test_step_report& r = line(o.which);
    switch (o.which) {
        case step::oauth:
            // A new login: whatever was reported as held no longer is.
            for (auto& s : report_.steps) s = {s.name, result_t::skipped, 0, milliseconds(0), {}};
            [[fallthrough]];
        case step::sso:
        case step::validate:
            r = step_report(std::string(to_string(o.which)), o);
            if (o.ok() && o.validation && o.validation->login_type)
                r.detail = std::string(to_string(*o.validation->login_type)) + " login";
            if (!o.ok() || (o.validation && !o.validation->result)) {
                if (o.ok()) {
                    r.result = result_t::failed;
                    r.detail = after.reason;
                }
                return finish();
            }
            return false;
        case step::init:
            r = step_report("init", o);
            if (!o.ok()) return finish();
            if (after.state == lifecycle::competing) {
                r.result = result_t::failed;
                r.detail = "another session holds this IBKR username (competing) and IBKR_COMPETE=false";
                return finish();
            }
            return false;
        case step::accounts: {
            const auto before = r.duration;
            if (!o.ok() || o.accounts->accounts.empty()) {
                r = step_report("init", o);
                r.result = result_t::failed;
                r.detail = "/iserver/accounts: " + (o.ok() ? std::string("IBKR listed no accounts") : r.detail);
                r.duration += before;
                return finish();
            }
            r.duration += o.duration;
            return false;
        }
        case step::tickle:
            if (after.state == lifecycle::connected) {
                r.result = result_t::passed;
                if (r.http_status == 0) r.http_status = o.http_status;
                r.duration += o.duration;
                r.detail = verifying_ ? "brokerage session authenticated (verified with a tickle)"
                                      : "brokerage session authenticated";
                return finish();
            }
            r = step_report("init", o);
            r.result = result_t::failed;
            if (o.ok()) r.detail = after.reason.empty() ? "brokerage session not authenticated" : after.reason;
            return finish();
        case step::logout: return false;
    }
    return false;
}

void test_tracker::on_halted(const session_snapshot& s) {
    if (complete_) return;
    fail_pending(s.halt_reason);
    finish();
}

void test_tracker::not_now(step next, milliseconds wait) {
    if (complete_) return;
    const double secs = static_cast<double>(wait.count()) / 1000.0;
    fail_pending(fmt::format("not run: IBKR's limits allow the next {} call in {:.1f} s{}", to_string(next), secs,
                             secs > 60 ? " (waiting out a 429 penalty)" : ""));
    finish();
}

void test_tracker::on_stopping() {
    if (complete_) return;
    fail_pending("the daemon is stopping");
    finish();
}

}  // namespace sessiond
