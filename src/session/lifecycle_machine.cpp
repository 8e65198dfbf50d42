#include "sessiond/session/lifecycle_machine.hpp"

#include "sessiond/ibkr/verdicts.hpp"

#include <algorithm>
#include <limits>
#include <utility>

namespace sessiond {

using std::chrono::milliseconds;

namespace {

milliseconds to_ms(seconds_f s) { return std::chrono::duration_cast<milliseconds>(s); }

constexpr std::string_view path_of(step s) { return endpoint_of(s).path; }

}  // namespace

std::string_view to_string(lifecycle l) noexcept {
    switch (l) {
        case lifecycle::not_configured: return "not_configured";
        case lifecycle::connecting: return "connecting";
        case lifecycle::connected: return "connected";
        case lifecycle::reconnecting: return "reconnecting";
        case lifecycle::competing: return "competing";
        case lifecycle::throttled: return "throttled";
        case lifecycle::halted: return "halted";
        case lifecycle::stopping: return "stopping";
        case lifecycle::stopped: return "stopped";
    }
    return "unknown";
}

std::string_view to_string(environment_check c) noexcept {
    switch (c) {
        case environment_check::none: return "none";
        case environment_check::validate: return "validate";
        case environment_check::accounts: return "accounts";
    }
    return "unknown";
}

machine_settings machine_settings::from(const settings& s) {
    machine_settings m;
    const auto& o = s.options;
    m.tickle_interval = to_ms(o.tickle_interval);
    m.init_settle = to_ms(o.init_settle);
    m.http_timeout = to_ms(o.http_timeout);
    m.backoff_initial = to_ms(o.backoff_initial);
    m.backoff_max = to_ms(o.backoff_max);
    m.pace_tickle = to_ms(o.pace_tickle);
    m.pace_validate = to_ms(o.pace_validate);
    m.max_requests_per_second = o.max_requests_per_second;
    m.rate_limit_penalty = to_ms(o.rate_limit_penalty);
    m.login_min_interval = to_ms(o.login_min_interval);
    m.logins_per_hour = o.logins_per_hour;
    m.compete = o.compete;
    m.environment = s.profile.environment;
    m.account_id = s.profile.account_id;
    m.calendar = o.calendar;
    return m;
}

pacer_limits machine_settings::pacing() const noexcept {
    return {max_requests_per_second, pace_tickle, pace_validate, {login_min_interval, logins_per_hour}, http_timeout};
}

milliseconds machine_settings::sso_refresh_margin() const noexcept {
    return std::clamp(tickle_interval * 3, milliseconds(5'000), milliseconds(180'000));
}

lifecycle_machine::lifecycle_machine(machine_settings settings, std::function<double()> uniform01,
                                 std::shared_ptr<username_pacer> pacer)
    : settings_(std::move(settings)),
      uniform01_(std::move(uniform01)),
      backoff_(settings_.backoff_initial, settings_.backoff_max),
      pacer_(pacer ? std::move(pacer) : std::make_shared<username_pacer>(settings_.pacing())) {
    pacer_->reconfigure(settings_.pacing());
    snap_.logins_last_hour = pacer_->logins().recent().size();  // a replacement inherits its predecessor's
}

directive lifecycle_machine::start(wall_time now) {
    snap_.state = lifecycle::connecting;
    return full_login(milliseconds(0), now);
}

void lifecycle_machine::on_request_sent(wall_time at) {
    pacer_->record_sent(path_of(pending_.next), call_started_at_, at);
}

void lifecycle_machine::on_call_started(wall_time now) {
    call_started_at_ = now;
    pacer_->record_start(path_of(pending_.next), now);
    if (pending_.next == step::oauth) {
        ++snap_.counters.login_attempts;
        pacer_->record_login(now);
        snap_.logins_last_hour = pacer_->logins().recent().size();
        if (snap_.state == lifecycle::throttled) snap_.state = ever_connected_ ? lifecycle::reconnecting : lifecycle::connecting;
        snap_.throttled_until.reset();
        snap_.throttled_by_login_rate = false;
    }
    snap_.waiting = false;
    snap_.next_call_at.reset();
}

directive lifecycle_machine::on_outcome(const step_outcome& o, wall_time now) {
    if (o.kind == failure::cancelled) return idle(now);
    snap_.last_outcomes[static_cast<std::size_t>(o.which)] = step_record{o.http_status, o.kind, o.ok(), o.ok() ? std::string() : o.detail, now};
    return o.ok() ? on_success(o, now) : on_failure(o, now);
}

directive lifecycle_machine::on_test_requested(wall_time now) {
    if (pending_.idle()) return pending_;
    const auto left = snap_.next_call_at && *snap_.next_call_at > now
                          ? std::chrono::ceil<milliseconds>(*snap_.next_call_at - now)
                          : milliseconds(0);
    // A connected session is verified with a tickle, also when a deferred validate is next.
    if (snap_.state == lifecycle::connected && pending_.next == step::validate && validate_deferred_)
        return call(step::tickle, milliseconds(0), now);
    // A 429 penalty and the settle after init are kept; backoff and tickle-interval waits are not.
    if (snap_.rate_limited || pending_.next == step::accounts) return call(pending_.next, left, now, pending_.compete);
    return call(pending_.next, milliseconds(0), now, pending_.compete);
}

void lifecycle_machine::reconfigure(machine_settings settings) {
    settings.environment = settings_.environment;  // identity is not reconfigured: it needs a new session
    settings.account_id = settings_.account_id;
    settings_ = std::move(settings);
    backoff_ = backoff_schedule(settings_.backoff_initial, settings_.backoff_max);
    pacer_->reconfigure(settings_.pacing());
}

void lifecycle_machine::on_stopping() {
    snap_.state = lifecycle::stopping;
    snap_.waiting = false;
    snap_.next_call_at.reset();
}

void lifecycle_machine::on_stopped() {
    snap_.state = lifecycle::stopped;
    has_sso_ = false;
}

directive lifecycle_machine::on_success(const step_outcome& o, wall_time now) {
    switch (o.which) {
        case step::oauth: return call(step::sso, milliseconds(0), now);

        case step::sso: return after_sso(now);

        case step::validate: return after_validate(*o.validation, o, now);

        case step::init: {
            snap_.brokerage = *o.brokerage;
            snap_.brokerage_reported = true;
            if (o.brokerage->competing && !o.brokerage->authenticated && !settings_.compete) {
                snap_.state = lifecycle::competing;
                return call(step::tickle, settings_.tickle_interval, now);
            }
            return call(step::accounts, settings_.init_settle, now);
        }

        case step::accounts: return after_accounts(o, now);

        case step::tickle: return after_tickle(*o.tickle, now);

        case step::logout:
            has_sso_ = false;
            return idle(now);
    }
    return idle(now);
}

directive lifecycle_machine::after_sso(wall_time now) {
    has_sso_ = true;
    ++snap_.counters.logins;
    snap_.logged_in_at = now;
    validate_extends_sso_ = true;
    if (pacer_->endpoint_ready_at(path_of(step::validate), now) <= now || !may_defer_validate())
        return call(step::validate, milliseconds(0), now);
    // IBKR allows one validate a minute, and the last one (before this login, or before a restart)
    // is less than a minute old: its paper/live check passed for this username moments ago. Go on
    // with the brokerage session now; /iserver/accounts' isPaper checks paper/live meanwhile, and
    // validate comes (and checks LOGIN_TYPE again) as soon as IBKR allows it.
    validate_deferred_ = true;
    snap_.validate_deferred_until = deferred_validate_at(now);
    return call(step::init, milliseconds(0), now, settings_.compete);
}

bool lifecycle_machine::may_defer_validate() const noexcept {
    // A validate that reported the other environment (IBKR_ENV changed by a reload, the username
    // not) must be repeated before a brokerage session is initialised for that username.
    const auto& seen = pacer_->validated_login_type();
    return !seen || !settings_.environment || *seen == *settings_.environment;
}

directive lifecycle_machine::after_validate(const sso_validation& v, const step_outcome& o, wall_time now) {
    if (v.expires) snap_.sso_expires_at = now + *v.expires;
    if (v.login_type) {
        snap_.login_type = v.login_type;
        pacer_->set_validated_login_type(*v.login_type);
    }
    if (!v.result) {
        step_outcome refused = failed_outcome(step::validate, failure::unauthorized,
                                              "validate answered RESULT=false: the SSO session is not valid", o.http_status);
        return on_failure(refused, now);
    }
    if (auto mismatch = environment_mismatch(v, settings_.environment)) return halt(std::move(*mismatch), now);
    sso_validated_ = true;
    if (v.login_type) snap_.environment_checked_by = environment_check::validate;
    const bool deferred = std::exchange(validate_deferred_, false);
    snap_.validate_deferred_until.reset();
    if (refreshing_sso_) {
        refreshing_sso_ = false;
        if (!v.expires || *v.expires < settings_.sso_refresh_margin()) {
            validate_extends_sso_ = false;
            return planned_rebuild("planned rebuild: validate did not extend the SSO session", now);
        }
        return call(step::tickle, settings_.tickle_interval, now);
    }
    if (deferred) return resume_tickles(now);
    return call(step::init, milliseconds(0), now, settings_.compete);
}

directive lifecycle_machine::after_accounts(const step_outcome& o, wall_time now) {
    const account_list& list = *o.accounts;
    if (list.accounts.empty()) {
        step_outcome none = failed_outcome(step::accounts, failure::bad_response, "IBKR listed no accounts yet", o.http_status);
        return on_failure(none, now);
    }
    if (auto mismatch = environment_mismatch(list, settings_.environment)) return halt(std::move(*mismatch), now);
    if (auto missing = account_missing(list, settings_.account_id)) return halt(std::move(*missing), now);
    if (list.login_type) {
        snap_.login_type = list.login_type;
        if (snap_.environment_checked_by == environment_check::none)
            snap_.environment_checked_by = environment_check::accounts;
    }
    return call(step::tickle, milliseconds(0), now);
}

bool lifecycle_machine::environment_settled() const noexcept {
    return !settings_.environment || sso_validated_ || snap_.environment_checked_by != environment_check::none;
}

directive lifecycle_machine::hold_until_environment_confirmed(wall_time now) {
    // The safe reading: IBKR said nothing yet that rules out a login for the other environment, so the
    // session is not offered as connected until validate's LOGIN_TYPE has been checked.
    snap_.reason = "paper/live not confirmed yet (/iserver/accounts has no isPaper): waiting for validate, "
                   "which IBKR allows once a minute";
    snap_.rate_limited = false;  // the tickle went through: no 429 wait or outage is on any more
    snap_.maintenance.reset();
    return keep_alive(now);
}

directive lifecycle_machine::keep_alive(wall_time now) {
    const wall_time tickle_at = now + std::max(settings_.tickle_interval, pacing_wait(step::tickle, now));
    if (validate_deferred_) {
        const wall_time validate_at = deferred_validate_at(now);
        snap_.validate_deferred_until = validate_at;
        if (validate_at <= tickle_at) {
            resume_tickle_at_ = tickle_at;
            return call(step::validate, std::chrono::ceil<milliseconds>(validate_at - now), now);
        }
    }
    return call(step::tickle, settings_.tickle_interval, now);
}

directive lifecycle_machine::resume_tickles(wall_time now) {
    if (snap_.state != lifecycle::connected || resume_tickle_at_ <= now) return call(step::tickle, milliseconds(0), now);
    return call(step::tickle, std::chrono::ceil<milliseconds>(resume_tickle_at_ - now), now);
}

directive lifecycle_machine::deferred_validate_failed(wall_time now) {
    // Not a sign that the session is unhealthy (a 401 is handled as one): paper/live was confirmed
    // by isPaper, or the session waits for this validate anyway. Keep tickling; try again when IBKR's
    // pace and a backoff allow.
    if (refreshing_sso_) validate_extends_sso_ = false;
    refreshing_sso_ = false;
    if (snap_.state != lifecycle::connected) ++snap_.consecutive_failures;
    deferred_validate_retry_at_ = now + backoff_.delay(++deferred_validate_failures_, uniform01_());
    snap_.validate_deferred_until = deferred_validate_at(now);
    return resume_tickles(now);
}

wall_time lifecycle_machine::deferred_validate_at(wall_time now) const {
    return std::max({now, pacer_->endpoint_ready_at(path_of(step::validate), now), deferred_validate_retry_at_});
}

directive lifecycle_machine::after_tickle(const tickle_report& t, wall_time now) {
    ++snap_.counters.tickles;
    if (!t.not_processed.empty()) {
        return on_failure(failed_outcome(step::tickle, failure::not_processed, "tickle not processed: " + t.not_processed, 200),
                          now);
    }
    if (t.sso_expires) snap_.sso_expires_at = now + *t.sso_expires;
    brokerage_status b = t.brokerage.value_or(brokerage_status{});
    // A tickle does not say whether the brokerage session is established: what init or auth
    // status said holds while it stays authenticated.
    if (!b.established && b.authenticated && snap_.brokerage.authenticated) b.established = snap_.brokerage.established;
    snap_.brokerage = b;
    snap_.brokerage_reported = true;

    if (b.healthy()) {
        if (!environment_settled()) return hold_until_environment_confirmed(now);
        if (snap_.state != lifecycle::connected) snap_.connected_since = now;
        snap_.state = lifecycle::connected;
        snap_.reason.clear();
        snap_.consecutive_failures = 0;
        snap_.rate_limited = false;
        snap_.maintenance.reset();
        snap_.last_tickle_at = now;
        ever_connected_ = true;
        if (last_takeover_at_ && now - *last_takeover_at_ >= settings_.backoff_max) takeover_streak_ = 0;

        if (snap_.logged_in_at && now - *snap_.logged_in_at >= settings_.max_session_age)
            return planned_rebuild("planned rebuild: the session reached its maximum age", now);
        if (snap_.sso_expires_at) {
            const auto left = *snap_.sso_expires_at - now;
            if (left < settings_.sso_refresh_margin()) {
                if (validate_extends_sso_ && pacing_wait(step::validate, now) == milliseconds(0)) {
                    refreshing_sso_ = true;
                    return call(step::validate, milliseconds(0), now);
                }
                if (left <= settings_.tickle_interval + settings_.http_timeout)
                    return planned_rebuild("planned rebuild: the SSO session is about to end", now);
            }
        }
        return keep_alive(now);
    }

    if (b.competing) {
        leave_healthy_state();
        snap_.state = lifecycle::competing;
        if (!settings_.compete) return call(step::tickle, settings_.tickle_interval, now);
        // Taking the session over is our policy (IBKR_COMPETE=true), but a person who keeps logging in
        // elsewhere must not be fought at tickle speed: each takeover in a row waits longer.
        ++snap_.counters.takeovers;
        ++takeover_streak_;
        last_takeover_at_ = now;
        return call(step::init, takeover_streak_ == 1 ? milliseconds(0) : backoff_.delay(takeover_streak_ - 1, uniform01_()),
                    now, true);
    }

    // Not authenticated: the brokerage session lapsed (idle timeout, nightly reset, dropped) or the
    // competing session went away. The SSO session still holds, so initialise the brokerage session
    // again without a new login, at once the first time.
    const bool was_healthy = snap_.state == lifecycle::connected || snap_.state == lifecycle::competing;
    record_error(failed_outcome(step::tickle, failure::none,
                                std::string("brokerage session not authenticated (connected=") +
                                    (b.connected ? "true" : "false") + "): initialising it again",
                                200),
                 now);
    leave_healthy_state();
    ++snap_.consecutive_failures;
    ++snap_.counters.reinits;
    return call(step::init, was_healthy && snap_.consecutive_failures == 1 ? milliseconds(0) : backoff(), now,
                settings_.compete);
}

directive lifecycle_machine::on_failure(const step_outcome& o, wall_time now) {
    record_error(o, now);
    if (o.which == step::tickle) ++snap_.counters.tickle_failures[static_cast<std::size_t>(o.kind)];
    if (o.which == step::logout) {
        has_sso_ = false;
        return idle(now);
    }
    if (o.which == step::validate && validate_deferred_ && o.kind != failure::unauthorized &&
        o.kind != failure::forbidden && o.kind != failure::rate_limited)
        return deferred_validate_failed(now);
    // A refresh validate that fails does not mean the session is unhealthy: keep tickling, and
    // rebuild the session instead of validating when the SSO time runs low.
    if (refreshing_sso_ && o.which == step::validate && o.kind != failure::unauthorized) {
        refreshing_sso_ = false;
        validate_extends_sso_ = false;
        return call(step::tickle, settings_.tickle_interval, now);
    }
    refreshing_sso_ = false;

    const bool was_healthy = snap_.state == lifecycle::connected;
    leave_healthy_state();
    snap_.rate_limited = false;

    // IBKR's maintenance: expected failures neither escalate the backoff nor count as failures in a
    // row; the retry comes at the backoff cap or when the window ends, whichever is sooner.
    snap_.maintenance = expected_outage(o, now);
    if (snap_.maintenance) {
        const milliseconds wait = maintenance_retry(*snap_.maintenance, now);
        if (is_login_step(o.which) || !has_sso_) return full_login(wait, now);
        return call(o.which, wait, now, settings_.compete);
    }
    ++snap_.consecutive_failures;

    switch (o.kind) {
        case failure::rate_limited: {
            snap_.rate_limited = true;
            const milliseconds wait = o.retry_after ? milliseconds(*o.retry_after) : settings_.rate_limit_penalty;
            // IBKR's penalty lands on every caller of the username, the gateway's included; one
            // without Retry-After is its penalty box, on every username of the same address.
            pacer_->penalise(now + wait, o.retry_after ? penalty_scope::username : penalty_scope::address);
            return is_login_step(o.which) ? full_login(wait, now) : call(o.which, wait, now, settings_.compete);
        }
        case failure::unauthorized:
        case failure::forbidden:
            if (!is_login_step(o.which)) {
                // The SSO session is gone: log in again, at once if it was healthy a moment ago.
                ++snap_.counters.relogins;
                return full_login(was_healthy && snap_.consecutive_failures == 1 ? milliseconds(0) : backoff(), now);
            }
            return full_login(backoff(), now);
        case failure::rejected:
            if (is_login_step(o.which)) return full_login(backoff(), now);
            if (o.which == step::accounts) return call(step::init, backoff(), now, settings_.compete);  // "no bridge"
            if (o.which == step::init && o.http_status == 410) return full_login(backoff(), now);    // stale session
            return call(o.which, backoff(), now, settings_.compete);
        default:
            if (is_login_step(o.which) || !has_sso_) return full_login(backoff(), now);
            return call(o.which, backoff(), now, settings_.compete);
    }
}

std::optional<maintenance_window> lifecycle_machine::expected_outage(const step_outcome& o, wall_time now) const {
    if (!settings_.calendar) return std::nullopt;
    switch (o.kind) {
        case failure::server_error:
        case failure::timeout:
        case failure::transport:
        case failure::bad_response:
        case failure::not_processed: return settings_.calendar->window_at(now);
        default: return std::nullopt;
    }
}

milliseconds lifecycle_machine::maintenance_retry(const maintenance_window& w, wall_time now) {
    // Jitter at both ends: many sessions (multi-user mode) must not retry in step at the window's end.
    const double u = uniform01_();
    const milliseconds at_cap = backoff_.delay(std::numeric_limits<int>::max(), u);
    const milliseconds spread = std::min(settings_.backoff_initial, milliseconds(5'000));
    const milliseconds at_end = std::chrono::ceil<milliseconds>(w.end - now) +
                                std::chrono::duration_cast<milliseconds>(spread * u);
    return std::min(at_cap, at_end);
}

directive lifecycle_machine::halt(std::string reason, wall_time now) {
    snap_.state = lifecycle::halted;
    snap_.halt_reason = reason;
    validate_deferred_ = false;
    snap_.validate_deferred_until.reset();
    record_error(failed_outcome(pending_.next, failure::none, std::move(reason)), now);
    if (has_sso_) return call(step::logout, milliseconds(0), now);
    return idle(now);
}

directive lifecycle_machine::planned_rebuild(std::string why, wall_time now) {
    ++snap_.counters.rebuilds;
    snap_.reason = std::move(why);
    snap_.state = lifecycle::reconnecting;
    snap_.connected_since.reset();
    return full_login(milliseconds(0), now);
}

directive lifecycle_machine::call(step s, milliseconds delay, wall_time now, bool compete) {
    milliseconds wait = std::max(delay, pacing_wait(s, now));
    // A 429 penalty, whoever earned it, is what this call waits for.
    if (pacer_->penalty_until(now)) snap_.rate_limited = true;
    if (s == step::oauth) {
        // The login budget outranks every other wait, the connection test's "now" included.
        // Then the daemon-wide login slots: a slot at or after both, reserved for this login.
        const wall_time budget_allows = std::max(pacer_->login_ready_at(now), now + wait);
        const wall_time allowed = pacer_->reserve_login(budget_allows, now);
        snap_.logins_last_hour = pacer_->logins().recent().size();
        const milliseconds budget_wait = allowed > now ? std::chrono::ceil<milliseconds>(allowed - now) : milliseconds(0);
        if (budget_wait > wait) {
            wait = budget_wait;
            snap_.state = lifecycle::throttled;
            snap_.throttled_until = allowed;
            snap_.throttled_by_login_rate = allowed > budget_allows;
        } else {
            snap_.throttled_until.reset();
        }
    }
    pending_ = directive{directive::kind_t::call, s, wait, compete};
    snap_.current_step = s;
    snap_.waiting = wait > milliseconds(0);
    snap_.next_call_at = now + wait;
    return pending_;
}

directive lifecycle_machine::full_login(milliseconds delay, wall_time now) {
    has_sso_ = false;
    refreshing_sso_ = false;
    validate_extends_sso_ = true;
    // Paper/live is checked anew for every SSO session.
    sso_validated_ = false;
    validate_deferred_ = false;
    deferred_validate_failures_ = 0;
    deferred_validate_retry_at_ = {};
    snap_.environment_checked_by = environment_check::none;
    snap_.validate_deferred_until.reset();
    snap_.sso_expires_at.reset();
    snap_.logged_in_at.reset();
    return call(step::oauth, delay, now);
}

directive lifecycle_machine::idle(wall_time) {
    pending_ = directive{directive::kind_t::idle, pending_.next, milliseconds(0), settings_.compete};
    snap_.waiting = false;
    snap_.next_call_at.reset();
    return pending_;
}

milliseconds lifecycle_machine::backoff() { return backoff_.delay(snap_.consecutive_failures, uniform01_()); }

milliseconds lifecycle_machine::pacing_wait(step s, wall_time now) const {
    const wall_time ready = pacer_->ready_at(path_of(s), now);
    return ready > now ? std::chrono::ceil<milliseconds>(ready - now) : milliseconds(0);
}

void lifecycle_machine::record_error(const step_outcome& o, wall_time now) {
    snap_.last_error = session_error{o.which, o.kind, o.http_status, o.detail, now};
    std::string what(to_string(o.which));
    what += ": ";
    if (o.http_status != 0 && o.kind != failure::none) what.append("HTTP ").append(std::to_string(o.http_status)).append(" ");
    if (o.kind != failure::none) what.append("(").append(to_string(o.kind)).append(") ");
    snap_.reason = what + o.detail;
}

void lifecycle_machine::leave_healthy_state() {
    if (snap_.state == lifecycle::connected) ++snap_.counters.reconnects;
    snap_.connected_since.reset();
    snap_.state = ever_connected_ ? lifecycle::reconnecting : lifecycle::connecting;
}

}  // namespace sessiond
