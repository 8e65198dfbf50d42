#include "sessiond/session/session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/chrono.h>

namespace sessiond {

namespace asio = boost::asio;
using asio::as_tuple;
using asio::use_awaitable;
using std::chrono::milliseconds;

namespace {

std::string human_duration(milliseconds d) {
    if (d < milliseconds(10'000)) return fmt::format("{:.1f} s", static_cast<double>(d.count()) / 1000.0);
    const auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
    if (s < 120) return fmt::format("{} s", s);
    if (s < 7200) return fmt::format("{}m{:02}s", s / 60, s % 60);
    return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

}  // namespace

session::session(asio::any_io_executor executor, settings config, std::shared_ptr<asio::ssl::context> tls, logger log)
    : executor_(executor),
      config_(std::move(config)),
      log_(std::move(log)),
      client_(executor, std::move(tls), config_.profile, config_.options),
      random_(std::random_device{}()),
      machine_(machine_settings::from(config_),
               [this] { return std::uniform_real_distribution<double>(0.0, 1.0)(random_); }),
      wait_timer_(executor) {}

session::~session() { *alive_ = false; }

void session::start() {
    if (running_ || stopping_) return;
    running_ = true;
    asio::co_spawn(executor_, run(), [alive = alive_, this](std::exception_ptr e) {
        if (!*alive) return;
        running_ = false;
        if (e) {
            // A broken invariant: crash loudly, a supervised restart is cheap.
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                log_.error({}, "session loop failed: {}", ex.what());
            }
            std::abort();
        }
        finish_stop();
    });
}

void session::stop(std::function<void()> done) {
    if (done) stop_callbacks_.push_back(std::move(done));
    if (stopping_) return;
    stopping_ = true;
    const lifecycle before = machine_.snapshot().state;
    machine_.on_stopping();
    log_transition(before);
    notify();
    wait_timer_.cancel();
    // Only a call in flight needs aborting; an idle keep-alive connection serves the logout.
    if (in_call_) client_.cancel();
    if (!running_) asio::post(executor_, [alive = alive_, this] { if (*alive) finish_stop(); });
}

void session::finish_stop() {
    const lifecycle before = machine_.snapshot().state;
    machine_.on_stopped();
    log_transition(before);
    notify();
    auto callbacks = std::move(stop_callbacks_);
    stop_callbacks_.clear();
    for (auto& cb : callbacks) cb();
}

void session::notify() const {
    for (const auto& o : observers_) o();
}

asio::awaitable<void> session::run() {
    directive next = machine_.start(wall_clock::now());
    log_.info({.state = to_string(machine_.snapshot().state)}, "starting {} session for account {} at {}",
              config_.profile.environment ? to_string(*config_.profile.environment) : "unknown",
              config_.profile.account_id, config_.options.endpoint.text);
    notify();
    while (!stopping_) {
        if (next.idle()) {
            co_await wait(milliseconds::max());
            continue;
        }
        if (next.delay > milliseconds(0)) {
            co_await wait(next.delay);
            if (stopping_) break;
        }
        machine_.on_call_started(wall_clock::now());
        notify();
        in_call_ = true;
        step_outcome outcome = co_await client_.call(next.next, next.compete);
        in_call_ = false;
        if (stopping_) break;
        const lifecycle before = machine_.snapshot().state;
        next = machine_.on_outcome(outcome, wall_clock::now());
        log_outcome(outcome, next);
        log_transition(before);
        notify();
    }
    co_await logout_before_exit();
}

asio::awaitable<void> session::wait(milliseconds delay) {
    if (delay == milliseconds::max())
        wait_timer_.expires_at(asio::steady_timer::time_point::max());
    else
        wait_timer_.expires_after(delay);
    auto [ec] = co_await wait_timer_.async_wait(as_tuple(use_awaitable));
    (void)ec;  // cancelled means "stop"; the loop checks stopping_
}

asio::awaitable<void> session::logout_before_exit() {
    if (!client_.has_sso_session()) {
        client_.close();
        co_return;
    }
    const auto budget = std::min(logout_budget, std::chrono::duration_cast<milliseconds>(config_.options.http_timeout));
    const step_outcome o = co_await client_.call(step::logout, true, budget);
    const log_fields fields{.state = "stopping", .step = "logout", .http_status = o.http_status};
    if (o.ok())
        log_.info(fields, "logout: HTTP {} in {} ms", o.http_status, o.duration.count());
    else
        log_.warn(fields, "logout failed after {} ms: {}", o.duration.count(), o.detail);
    client_.forget_session();
    client_.close();
}

void session::log_outcome(const step_outcome& o, const directive& next) const {
    const auto& snap = machine_.snapshot();
    const log_fields fields{.state = to_string(snap.state),
                            .step = to_string(o.which),
                            .http_status = o.http_status,
                            .attempt = snap.consecutive_failures};
    std::string then;
    if (next.idle())
        then = "no further calls";
    else if (next.delay > milliseconds(0))
        then = fmt::format("{} in {}", to_string(next.next), human_duration(next.delay));
    else
        then = std::string(to_string(next.next));

    if (o.ok() && o.validation && o.validation->result && !o.validation->login_type) {
        log_.warn(fields, "validate did not report LOGIN_TYPE: cannot confirm that this is a {} login",
                  config_.profile.environment ? to_string(*config_.profile.environment) : "?");
    }
    if (o.ok()) {
        // Routine tickles of a healthy session are debug noise; everything else is worth a line.
        const bool routine = o.which == step::tickle && snap.state == lifecycle::connected &&
                             snap.counters.tickles > 1 && next.next == step::tickle;
        if (routine)
            log_.debug(fields, "tickle: HTTP {} in {} ms", o.http_status, o.duration.count());
        else
            log_.info(fields, "{}: HTTP {} in {} ms; next: {}", to_string(o.which), o.http_status, o.duration.count(),
                      then);
        return;
    }
    const std::string status = o.http_status != 0 ? fmt::format("HTTP {} ({})", o.http_status, to_string(o.kind))
                                                  : std::string(to_string(o.kind));
    const std::string_view hint = troubleshooting_hint(o.which, o.kind, o.http_status);
    log_.warn(fields, "{} failed: {} after {} ms: {}{}{}; next: {}", to_string(o.which), status, o.duration.count(),
              o.detail, hint.empty() ? "" : "; ", hint, then);
}

void session::log_transition(lifecycle before) const {
    const auto& snap = machine_.snapshot();
    if (snap.state == before) return;
    const log_fields fields{.state = to_string(snap.state), .attempt = snap.consecutive_failures};
    switch (snap.state) {
        case lifecycle::connected: {
            std::string sso = "unknown";
            if (snap.sso_expires_at)
                sso = human_duration(std::chrono::duration_cast<milliseconds>(*snap.sso_expires_at - wall_clock::now()));
            log_.info(fields, "session connected: account {} ({}), server {} {}, SSO session expires in {}",
                      config_.profile.account_id,
                      snap.login_type ? to_string(*snap.login_type)
                                      : (config_.profile.environment ? to_string(*config_.profile.environment) : "?"),
                      snap.brokerage.server_name.empty() ? "?" : snap.brokerage.server_name,
                      snap.brokerage.server_version, sso);
            break;
        }
        case lifecycle::halted: log_.error(fields, "session halted: {}", snap.halt_reason); break;
        case lifecycle::competing:
            log_.warn(fields, "another session is using this IBKR username (competing); IBKR_COMPETE={}",
                      config_.options.compete ? "true: taking it over" : "false: waiting");
            break;
        case lifecycle::reconnecting:
            if (before == lifecycle::connected) {
                log_.warn(fields, "session lost: {}; reconnecting", snap.reason);
            }
            break;
        default: log_.info(fields, "session {}", to_string(snap.state)); break;
    }
}

}  // namespace sessiond
