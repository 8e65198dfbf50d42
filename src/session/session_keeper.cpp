#include "sessiond/session/session_keeper.hpp"

#include "sessiond/core/state_file.hpp"
#include "sessiond/pacing/pacing_file_store.hpp"
#include "sessiond/core/time_format.hpp"
#include "sessiond/pacing/pacing_file.hpp"

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


std::shared_ptr<pacing_store> state_directory_store(const settings& config, offload blocking) {
    if (!config.service.state_dir) return nullptr;
    return std::make_shared<pacing_file_store>(*config.service.state_dir, config.profile.credential, std::move(blocking));
}

session_keeper::session_keeper(asio::any_io_executor executor, std::shared_ptr<const settings> config,
                               std::shared_ptr<asio::ssl::context> tls, logger log,
                 std::shared_ptr<username_pacer> pacer, std::shared_ptr<pacing_store> store, offload blocking,
                 std::shared_ptr<idle_connections> shared)
    : executor_(executor),
      blocking_(blocking),
      config_(std::move(config)),
      log_(std::move(log)),
      tls_(tls),
      client_(executor, std::move(tls), std::shared_ptr<const ibkr_profile>(config_, &config_->profile),
              std::shared_ptr<const session_options>(config_, &config_->options), std::move(blocking), std::move(shared)),
      random_(std::random_device{}()),
      machine_(machine_settings::from(*config_),
               [this] { return std::uniform_real_distribution<double>(0.0, 1.0)(random_); }, std::move(pacer)),
      wait_timer_(executor),
      durations_{histogram(request_duration_buckets()), histogram(request_duration_buckets()),
                 histogram(request_duration_buckets()), histogram(request_duration_buckets()),
                 histogram(request_duration_buckets()), histogram(request_duration_buckets()),
                 histogram(request_duration_buckets())},
      pacing_store_(std::move(store)) {
    client_.gate_logins(login_send_gate(machine_.shared_pacer()));
}

session_keeper::~session_keeper() { *alive_ = false; }

void session_keeper::start() {
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

void session_keeper::stop(std::function<void()> done) {
    if (done) stop_callbacks_.push_back(std::move(done));
    if (stopping_) return;
    stopping_ = true;
    const lifecycle before = machine_.snapshot().state;
    machine_.on_stopping();
    log_transition(before);
    notify();
    wait_timer_.cancel();
    if (test_) {
        test_->tracker.on_stopping();
        finish_test();
    }
    // Only a call in flight needs aborting; an idle keep-alive connection serves the logout.
    if (in_call_) client_.cancel();
    if (!running_) asio::post(executor_, [alive = alive_, this] { if (*alive) finish_stop(); });
}

void session_keeper::finish_stop() {
    const lifecycle before = machine_.snapshot().state;
    machine_.on_stopped();
    log_transition(before);
    notify();
    auto callbacks = std::move(stop_callbacks_);
    stop_callbacks_.clear();
    for (auto& cb : callbacks) cb();
}

void session_keeper::notify() const {
    for (const auto& o : observers_) o();
}

asio::awaitable<void> session_keeper::load_pacing() {
    if (!pacing_store_) {
        log_.warn({}, "{}: the login budget ({} logins an hour, {} apart) and IBKR's validate pace live in memory "
                      "and do not survive a restart",
                  config_->service.state_dir_unavailable.empty() ? "no state directory" : config_->service.state_dir_unavailable,
                  config_->options.logins_per_hour,
                  human_duration(std::chrono::duration_cast<milliseconds>(config_->options.login_min_interval)));
        co_return;
    }
    // Said once by the daemon in multi-user mode, where every session keeps its record there.
    log_.log(config_->multi_user ? spdlog::level::debug : spdlog::level::info, {},
             fmt::format("state directory {} ({}): the login budget and IBKR's validate pace survive a restart",
                         config_->service.state_dir ? config_->service.state_dir->string() : pacing_store_->where(),
                         config_->service.state_dir_rule.empty() ? "SESSIOND_STATE_DIR" : config_->service.state_dir_rule));
    username_pacer& pacer = *machine_.shared_pacer();
    // Read when this username's first session started; as one of several replicas, again at every
    // start (another replica may have logged the username in since).
    const bool shared = !config_->service.replica_id.empty();
    if (pacer.restored() && !shared) co_return;
    auto loaded = co_await pacing_store_->load(pacer.logins().limits(), wall_clock::now());
    if (!loaded.note.empty()) log_.info({}, "pacing record: {}", loaded.note);
    const auto now = wall_clock::now();
    if (!loaded.record) {
        // The safe reading of a record we cannot read: a login and a validate just happened.
        log_.error({}, "pacing record {}: {}; counting a login now to stay within IBKR's limits",
                   pacing_store_->where(), loaded.record.error().message);
        persisted_pacing assumed{pacer.logins(), now};
        assumed.logins.record(now);
        pacer.restore(assumed, now);
        co_return;
    }
    if (shared) pacer.restore_shared(*loaded.record, now);
    else pacer.restore(*loaded.record, now);
    if (const auto& restored = *loaded.record) {
        log_.info({}, "pacing record: {} login(s) in the last hour{} (from {})", restored->logins.recent().size(),
                  restored->last_validate ? ", last validate " + iso8601_utc(*restored->last_validate) : std::string(),
                  pacing_store_->where());
    }
}

asio::awaitable<void> session_keeper::save_pacing() {
    if (!pacing_store_) co_return;
    const auto written = co_await pacing_store_->save(machine_.pacer().to_persist());
    if (!written) log_.error({}, "pacing record not saved: {}", written.error().message);
}

asio::awaitable<void> session_keeper::run() {
    co_await load_pacing();
    next_ = machine_.start(wall_clock::now());
    first_call_decided_ = true;
    log_.info({.state = to_string(machine_.snapshot().state)}, "starting {} session for account {} at {}",
              config_->profile.environment ? to_string(*config_->profile.environment) : "unknown",
              config_->profile.account_id, config_->options.endpoint.text);
    log_transition(lifecycle::connecting);  // a restart within the login budget starts throttled
    notify();
    if (test_) begin_test();  // asked for before the first call was decided
    while (!stopping_) {
        // A connection test may replace the directive while we wait (rescheduled_): start over.
        rescheduled_ = false;
        if (next_.idle()) {
            co_await wait(milliseconds::max());
            continue;
        }
        if (next_.delay > milliseconds(0)) {
            co_await wait(next_.delay);
            if (stopping_) break;
            if (rescheduled_) continue;
        }
        const directive current = next_;
        const wall_time started_at = wall_clock::now();
        const auto started_steady = std::chrono::steady_clock::now();
        machine_.on_call_started(started_at);
        // From here the call is under way: a connection test joins it, a stop cancels it.
        in_call_ = true;
        call_started_ = std::chrono::steady_clock::now();
        // Before the call: a crash during it still counts it.
        if (current.next == step::oauth || current.next == step::validate) {
            co_await save_pacing();
            if (stopping_) {
                in_call_ = false;
                break;
            }
        }
        notify();
        const auto opened = client_.connection().connections_opened();
        step_outcome outcome = co_await client_.call(current.next, current.compete);
        in_call_ = false;
        record_duration(outcome);
        if (stopping_) break;
        // Opening a connection first delays the request: IBKR's pace counts from its arrival.
        if (const auto sent = client_.connection().last_request_sent(); sent > started_steady)
            machine_.on_request_sent(started_at + std::chrono::duration_cast<milliseconds>(sent - started_steady));
        if (const auto& c = client_.connection(); c.connections_opened() != opened && c.last_connect_duration().count() > 0) {
            log_.debug({.step = to_string(current.next)}, "{}: new connection (TCP connect and TLS handshake) in {:.3f} ms",
                       to_string(current.next),
                       std::chrono::duration<double, std::milli>(c.last_connect_duration()).count());
        }
        const lifecycle before = machine_.snapshot().state;
        next_ = machine_.on_outcome(outcome, wall_clock::now());
        log_outcome(outcome, next_);
        log_transition(before);
        follow_test(outcome);
        notify();
    }
    co_await logout_before_exit();
}

void session_keeper::run_test(std::function<void(const connection_test_report&)> done) {
    if (test_) {
        test_->waiters.push_back(std::move(done));
        return;
    }
    test_.emplace(machine_.snapshot());
    test_->waiters.push_back(std::move(done));
    // Before the first call is decided (the pacing record is still being read) the test begins
    // with it: see run().
    if (!first_call_decided_ && !stopping_) return;
    begin_test();
}

void session_keeper::check_now(std::string_view why) {
    if (!running_ || stopping_ || in_call_ || !first_call_decided_ || next_.idle() || test_) return;
    if (machine_.snapshot().state != lifecycle::connected) return;  // already recovering
    const directive d = machine_.on_test_requested(wall_clock::now());
    log_.info({.state = to_string(machine_.snapshot().state)}, "{}: checking the session with a {} in {} ms", why,
              to_string(d.next), d.delay.count());
    next_ = d;
    rescheduled_ = true;
    wait_timer_.cancel();
}

void session_keeper::begin_test() {
    // The tracker starts from the session as it is now, its first call decided.
    auto waiters = std::move(test_->waiters);
    test_.emplace(machine_.snapshot(), std::move(waiters));
    log_.info({.state = to_string(machine_.snapshot().state)}, "connection test requested ({})",
              test_->tracker.verifying() ? "verifying the running session" : "running the login flow now");
    if (stopping_) {
        test_->tracker.on_stopping();
        return finish_test();
    }
    if (next_.idle()) {
        test_->tracker.on_halted(machine_.snapshot());
        return finish_test();
    }
    if (in_call_) return;  // the call in flight is the next step of the test
    const directive d = machine_.on_test_requested(wall_clock::now());
    // Settling after init is part of the flow; any other wait beyond a moment is IBKR's pacing or a
    // 429 penalty, which a test never skips: report that instead of holding the caller.
    if (d.delay > max_test_wait && d.next != step::accounts) {
        test_->tracker.not_now(d.next, d.delay);
        return finish_test();
    }
    next_ = d;
    rescheduled_ = true;
    wait_timer_.cancel();
}

void session_keeper::follow_test(const step_outcome& outcome) {
    if (!test_) return;
    if (test_->tracker.on_outcome(outcome, machine_.snapshot())) return finish_test();
    if (next_.idle()) {
        test_->tracker.on_halted(machine_.snapshot());
        return finish_test();
    }
    if (next_.delay > max_test_wait && next_.next != step::accounts) {
        test_->tracker.not_now(next_.next, next_.delay);
        finish_test();
    }
}

void session_keeper::finish_test() {
    if (!test_) return;
    const connection_test_report report = test_->tracker.report();
    auto waiters = std::move(test_->waiters);
    test_.reset();
    std::string outcome = report.passed() ? std::string("passed") : "failed at " + report.failed_step();
    if (!report.not_now.empty()) outcome = "not run now: " + report.not_now;
    log_.info({.state = to_string(machine_.snapshot().state)}, "connection test {}", outcome);
    for (auto& w : waiters) asio::post(executor_, [w = std::move(w), report] { w(report); });
}

void session_keeper::record_duration(const step_outcome& o) {
    if (o.kind == failure::cancelled) return;
    durations_[static_cast<std::size_t>(o.which)].observe(static_cast<double>(o.duration.count()) / 1000.0);
}

bool session_keeper::wedged(std::chrono::steady_clock::time_point now) const noexcept {
    // Every call has a deadline (IBKR_HTTP_TIMEOUT); one that outlives it twice over means the
    // event loop's work is stuck, which is what the watchdog exists to catch.
    if (!in_call_) return false;
    const auto limit = 2 * std::chrono::duration_cast<milliseconds>(config_->options.http_timeout) + milliseconds(5'000);
    return now - call_started_ > limit;
}

void session_keeper::apply(std::shared_ptr<const settings> next) {
    // Only what the identity check left equal can differ: endpoint and CA file are the same.
    if (next == config_) return;
    config_ = std::move(next);
    client_.reconfigure(std::shared_ptr<const ibkr_profile>(config_, &config_->profile),
                        std::shared_ptr<const session_options>(config_, &config_->options));
    machine_.reconfigure(machine_settings::from(*config_));
}

asio::awaitable<void> session_keeper::wait(milliseconds delay) {
    if (delay == milliseconds::max())
        wait_timer_.expires_at(asio::steady_timer::time_point::max());
    else
        wait_timer_.expires_after(delay);
    auto [ec] = co_await wait_timer_.async_wait(as_tuple(use_awaitable));
    (void)ec;  // cancelled means "stop"; the loop checks stopping_
}

asio::awaitable<void> session_keeper::logout_before_exit() {
    if (client_.has_sso_session() && !client_.permitted()) {
        log_.warn({.state = "stopping", .step = "logout"},
                  "logout skipped: this daemon's lease on the user is no longer usable; another replica may have "
                  "logged in since, and a logout would end its session");
        client_.forget_session();
    }
    if (!client_.has_sso_session()) {
        client_.close();
        co_return;
    }
    const auto budget = std::min(logout_budget, std::chrono::duration_cast<milliseconds>(config_->options.http_timeout));
    // The logout is a request like any other for IBKR's limits: a replacement session logging in
    // right after it must count it, and it must not be the request that earns a 429.
    username_pacer& pacer = *machine_.shared_pacer();
    const std::string_view path = endpoint_of(step::logout).path;
    const wall_time ready = pacer.ready_at(path, wall_clock::now());
    if (const auto wait = std::chrono::ceil<milliseconds>(ready - wall_clock::now()); wait > milliseconds(0)) {
        if (wait >= budget) {
            log_.warn({.state = "stopping", .step = "logout"},
                      "logout skipped: IBKR's limits allow no call for {} (a 429 penalty); the SSO session ends "
                      "when IBKR times it out",
                      human_duration(wait));
            client_.forget_session();
            client_.close();
            co_return;
        }
        asio::steady_timer paced(executor_, wait);
        co_await paced.async_wait(as_tuple(use_awaitable));
    }
    pacer.record_start(path, wall_clock::now());
    const step_outcome o = co_await client_.call(step::logout, true, budget);
    record_duration(o);
    last_logout_ = o;
    const log_fields fields{.state = "stopping", .step = "logout", .http_status = o.http_status};
    if (o.ok())
        log_.info(fields, "logout: HTTP {} in {} ms", o.http_status, o.duration.count());
    else
        log_.warn(fields, "logout failed after {} ms: {}", o.duration.count(), o.detail);
    client_.forget_session();
    client_.close();
}

void session_keeper::log_outcome(const step_outcome& o, const directive& next) {
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
                  config_->profile.environment ? to_string(*config_->profile.environment) : "?");
    }
    if (o.ok()) log_deferred_validate(o);
    if (o.ok()) {
        if (const auto pending = repeated_failures_.take_pending(); pending > 0)
            log_.warn(fields, "the last failure repeated {} more time(s) before this success", pending);
        repeated_failures_.reset();
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
    // Identical failures (same step, status and detail) within a minute: the first is a warning, the
    // repeats are debug lines, and the next warning says how many there were.
    const auto verdict = repeated_failures_.check(fmt::format("{} {} {}", to_string(o.which), status, o.detail),
                                                  std::chrono::steady_clock::now());
    if (verdict.previous_suppressed > 0)
        log_.warn(fields, "the previous failure repeated {} more time(s)", verdict.previous_suppressed);
    // In an IBKR maintenance window such failures are expected: information, not a warning.
    const bool expected = snap.maintenance.has_value() && config_->options.calendar != nullptr;
    const auto level = !verdict.emit ? spdlog::level::debug : expected ? spdlog::level::info : spdlog::level::warn;
    if (!log_.enabled(level)) return;
    const std::string window = expected ? " (expected: " + config_->options.calendar->describe(*snap.maintenance) + ")" : "";
    log_.log(level, fields,
             fmt::format("{} failed: {} after {} ms: {}{}{}{}; next: {}{}", to_string(o.which), status, o.duration.count(),
                         o.detail, hint.empty() ? "" : "; ", hint, window, then,
                         suppressed_suffix(verdict.suppressed)));
}

void session_keeper::log_deferred_validate(const step_outcome& o) const {
    const auto& snap = machine_.snapshot();
    if (!snap.validate_deferred_until || (o.which != step::sso && o.which != step::accounts)) return;
    const std::string until = iso8601_utc(*snap.validate_deferred_until);
    const log_fields fields{.state = to_string(snap.state), .step = to_string(o.which)};
    if (o.which == step::sso) {
        log_.info(fields, "validate deferred until {} (IBKR allows one a minute): initialising the brokerage session now; "
                          "/iserver/accounts isPaper checks paper/live meanwhile",
                  until);
    } else if (snap.environment_checked_by == environment_check::accounts && snap.login_type) {
        log_.info(fields, "{} login confirmed by /iserver/accounts isPaper; validate deferred until {} (IBKR allows one a minute)",
                  to_string(*snap.login_type), until);
    } else if (snap.waiting_for_environment_check()) {
        log_.warn(fields, "/iserver/accounts did not report isPaper: paper/live is unconfirmed, and the session is not "
                          "reported connected, until validate at {} (IBKR allows one a minute)",
                  until);
    }
}

void session_keeper::log_transition(lifecycle before) const {
    const auto& snap = machine_.snapshot();
    if (snap.state == before) return;
    const log_fields fields{.state = to_string(snap.state), .attempt = snap.consecutive_failures};
    switch (snap.state) {
        case lifecycle::connected: {
            std::string sso = "unknown";
            if (snap.sso_expires_at)
                sso = human_duration(std::chrono::duration_cast<milliseconds>(*snap.sso_expires_at - wall_clock::now()));
            log_.info(fields, "session connected: account {} ({}), server {} {}, SSO session expires in {}",
                      config_->profile.account_id,
                      snap.login_type ? to_string(*snap.login_type)
                                      : (config_->profile.environment ? to_string(*config_->profile.environment) : "?"),
                      snap.brokerage.server_name.empty() ? "?" : snap.brokerage.server_name,
                      snap.brokerage.server_version, sso);
            break;
        }
        case lifecycle::halted: log_.error(fields, "session halted: {}", snap.halt_reason); break;
        case lifecycle::throttled:
            // Waiting for a slot of the daemon-wide rate is how many sessions start, not a warning:
            // a start with 10,000 users would print 10,000 of them.
            if (snap.throttled_by_login_rate) {
                log_.debug(fields, "waiting for a login slot (SESSIOND_DAEMON_LOGIN_INTERVAL={} s, all users' logins "
                                   "together): this session's login is at {}",
                           format_seconds(config_->options.daemon_login_interval.count()),
                           snap.throttled_until ? iso8601_utc(*snap.throttled_until) : std::string("?"));
                break;
            }
            // The hour's logins spent is trouble (a warning); the spacing after a recent login (a
            // credential's proof, a failed attempt) is how logins are paced, said at info: adding
            // 1,000 users printed 1,000 warnings.
            log_.log(snap.logins_last_hour >= static_cast<std::size_t>(config_->options.logins_per_hour)
                         ? spdlog::level::warn
                         : spdlog::level::info,
                     fields,
                     fmt::format("throttled: the login budget ({} an hour, {} apart) allows the next login at {}",
                                 config_->options.logins_per_hour,
                                 human_duration(std::chrono::duration_cast<milliseconds>(config_->options.login_min_interval)),
                                 snap.throttled_until ? iso8601_utc(*snap.throttled_until) : std::string("?")));
            break;
        case lifecycle::competing:
            log_.warn(fields, "another session is using this IBKR username (competing); IBKR_COMPETE={}",
                      config_->options.compete ? "true: taking it over" : "false: waiting");
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
