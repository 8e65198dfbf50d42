#include "sessiond/pacing/username_pacer.hpp"

#include <algorithm>
#include <utility>

namespace sessiond {

using std::chrono::milliseconds;

namespace {

constexpr milliseconds request_window = std::chrono::seconds(1) + ibkr_pace_margin;

login_budget_settings budget_of(const pacer_limits& l) { return l.logins; }

}  // namespace

username_pacer::username_pacer(pacer_limits limits)
    : limits_(limits),
      table_(limits.pace_tickle, limits.pace_validate),
      history_(endpoint_limits::size()),
      requests_(request_window, limits.max_requests_per_second, milliseconds(0)),
      logins_(budget_of(limits)) {}

void username_pacer::reconfigure(pacer_limits limits) {
    limits_ = limits;
    table_ = endpoint_limits(limits.pace_tickle, limits.pace_validate);  // same rows, new paces
    requests_.set_limits(limits.max_requests_per_second, milliseconds(0));
    logins_.reconfigure(budget_of(limits));
}

wall_time username_pacer::endpoint_ready_at(std::string_view path, wall_time now) const {
    const auto row = table_.row_of(path);
    if (!row) return now;
    const endpoint_limit limit = table_.row(*row);
    const auto& starts = history_[*row].starts;
    if (limit.max_in_flight > 0 || limit.window <= milliseconds(0)) return now;
    if (starts.size() < static_cast<std::size_t>(std::max(limit.count, 1))) return now;
    return std::max(now, starts.front() + limit.window + ibkr_pace_margin);
}

void username_pacer::record_row(std::size_t row, wall_time at) {
    auto& starts = history_[row].starts;
    starts.insert(std::upper_bound(starts.begin(), starts.end(), at), at);
    const auto keep = static_cast<std::size_t>(std::max(table_.row(row).count, 1));
    if (starts.size() > keep) starts.erase(starts.begin(), starts.end() - static_cast<std::ptrdiff_t>(keep));
}

wall_time username_pacer::ready_at(std::string_view path, wall_time now, int spare) const {
    // 0: no global limit (ibkr-sim only, SESSIOND_SIMULATOR_LIMITS).
    wall_time ready = limits_.max_requests_per_second <= 0
                          ? now
                          : std::max(now, requests_.next_allowed(now, limits_.max_requests_per_second - spare));
    ready = std::max(ready, endpoint_ready_at(path, now));
    if (const auto penalty = penalty_until(now)) ready = std::max(ready, *penalty);
    return ready;
}

void username_pacer::record_start(std::string_view path, wall_time now) {
    requests_.record(now);
    if (const auto row = table_.row_of(path)) record_row(*row, now);
}

void username_pacer::record_sent(std::string_view path, wall_time started, wall_time at) {
    // Under valgrind a login's first request opened its connection for 0.7 s: stamped at its start,
    // it left IBKR's second while the daemon's window thought it gone, and the eleventh request in
    // IBKR's second got a 429.
    requests_.move(started, at);
    const auto row = table_.row_of(path);
    if (!row) return;
    auto& starts = history_[*row].starts;
    if (starts.empty() || at <= starts.back()) return;
    starts.back() = at;  // still the newest: the order holds
}

std::optional<wall_time> username_pacer::last_start(std::string_view path) const {
    const auto row = table_.row_of(path);
    if (!row || history_[*row].starts.empty()) return std::nullopt;
    return history_[*row].starts.back();
}

bool username_pacer::has_room(std::string_view path) const {
    const auto row = table_.row_of(path);
    if (!row) return true;
    const int most = table_.row(*row).max_in_flight;
    return most <= 0 || history_[*row].in_flight < most;
}

bool username_pacer::begin_in_flight(std::string_view path) {
    if (!has_room(path)) return false;
    if (const auto row = table_.row_of(path)) ++history_[*row].in_flight;
    return true;
}

void username_pacer::end_in_flight(std::string_view path) {
    if (const auto row = table_.row_of(path); row && history_[*row].in_flight > 0) --history_[*row].in_flight;
}

void username_pacer::penalise(wall_time until, penalty_scope scope) {
    if (scope == penalty_scope::address && box_) {
        box_->penalise(until);
        return;
    }
    if (!penalty_until_ || until > *penalty_until_) penalty_until_ = until;
}

std::optional<wall_time> username_pacer::penalty_until(wall_time now) const {
    std::optional<wall_time> until;
    if (penalty_until_ && *penalty_until_ > now) until = penalty_until_;
    if (box_)
        if (const auto boxed = box_->until(now); boxed && (!until || *boxed > *until)) until = boxed;
    return until;
}

wall_time username_pacer::login_ready_at(wall_time now) {
    logins_.advance(now);
    return std::max({now, logins_.next_allowed(now), login_not_before_});
}

void username_pacer::record_login(wall_time at) { logins_.record(at); }

void username_pacer::restore(const std::optional<persisted_pacing>& record, wall_time now) {
    if (restored_) return;
    restore_shared(record, now);
}

void username_pacer::restore_shared(const std::optional<persisted_pacing>& record, wall_time now) {
    restored_ = true;
    if (!record) return;
    const persisted_pacing& saved = *record;
    logins_.merge_new(saved.logins);
    // Each time was stamped just before its request set out, and the process may have ended with that
    // request still on its way (connecting, handshaking, writing: up to http_timeout). The safe
    // reading: the newest login and validate reached IBKR as late as that after their stamps.
    if (!saved.logins.recent().empty())
        login_not_before_ = std::max(login_not_before_, saved.logins.recent().back() + limits_.http_timeout +
                                                            logins_.limits().min_spacing);
    if (saved.last_validate) {
        const auto row = *table_.row_of("/sso/validate");
        const wall_time arrived = *saved.last_validate + limits_.http_timeout;
        if (history_[row].starts.empty() || arrived > history_[row].starts.back()) record_row(row, arrived);
    }
    record_row(*table_.row_of("/tickle"), now);
}

persisted_pacing username_pacer::to_persist() const { return {logins_, last_start("/sso/validate")}; }

}  // namespace sessiond
