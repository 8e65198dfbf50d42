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

// The validate line while validate waits for IBKR's minute and isPaper has confirmed paper/live.
std::string deferred_validate(const session_snapshot& s) {
    std::string out = "deferred";
    if (s.validate_deferred_until) out += " until " + iso8601_utc(*s.validate_deferred_until);
    out += " (IBKR allows one validate a minute); ";
    out += s.login_type ? std::string(to_string(*s.login_type)) : std::string("paper/live");
    return out + " login confirmed by /iserver/accounts isPaper";
}

std::string validate_as_held(const session_snapshot& s, const std::string& held) {
    if (s.validate_deferred_until && s.environment_checked_by == environment_check::accounts) return deferred_validate(s);
    return s.login_type ? std::string(to_string(*s.login_type)) + " login" : held;
}

}  // namespace

test_tracker::test_tracker(const session_snapshot& at_start) {
    for (const auto name : test_steps) report_.steps.push_back({std::string(name), result_t::skipped, 0, milliseconds(0), {}});
    const std::string held = since(at_start.logged_in_at);
    verifying_ = at_start.state == lifecycle::connected;
    // Steps the running session has already passed are reported as such, not repeated.
    const step next = at_start.current_step;
    const bool sso_held = verifying_ || (next != step::oauth && next != step::sso);
    // Past sso, validate has run unless it was deferred (then isPaper may have confirmed paper/live).
    const bool past_validate = next == step::init || next == step::accounts || next == step::tickle;
    const bool validated = verifying_ || (past_validate && !at_start.validate_deferred_until);
    if (sso_held) {
        pass_as_held(line(step::oauth), held);
        pass_as_held(line(step::sso), held);
    }
    if (validated) pass_as_held(line(step::validate), validate_as_held(at_start, held));
    note_deferred_validate(at_start);
}

void test_tracker::note_deferred_validate(const session_snapshot& s) {
    test_step_report& r = line(step::validate);
    if (r.result == result_t::skipped && s.validate_deferred_until &&
        s.environment_checked_by == environment_check::accounts)
        pass_as_held(r, deferred_validate(s));
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
            note_deferred_validate(after);
            return false;
        }
        case step::tickle:
            if (o.ok() && after.waiting_for_environment_check() && after.brokerage.healthy()) {
                // Up, but not connected before the deferred validate has confirmed paper/live.
                r.result = result_t::passed;
                r.duration += o.duration;
                r.detail = "brokerage session authenticated; paper/live not confirmed yet (no isPaper)";
                return false;
            }
            if (after.state == lifecycle::connected) {
                note_deferred_validate(after);
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
    report_.not_now = fmt::format("IBKR's limits allow the next {} call in {:.1f} s{}", to_string(next), secs,
                                  secs > 60 ? " (waiting out a 429 penalty)" : "");
    fail_pending("not run: " + report_.not_now);
    finish();
}

void test_tracker::on_stopping() {
    if (complete_) return;
    fail_pending("the daemon is stopping");
    finish();
}

}  // namespace sessiond
