#pragma once
// The session lifecycle as a pure state machine: given the outcome of each IBKR call, it decides
// the next call and how long to wait before it. All policy lives here (recovery, backoff, pacing,
// competing sessions, SSO refresh); the I/O driver (session.hpp) only executes the directives.
// Time and randomness are parameters, so every transition is unit-tested.
//
//   start ──> oauth ──> sso ──> validate ──> init ──(settle)──> accounts ──> tickle ──(interval)──> tickle ...
//
//   validate within IBKR's minute of the last one (a login soon after another, a restart, a reload):
//     sso ──> init ──(settle)──> accounts (isPaper checks IBKR_ENV) ──> tickle ... ──> validate when
//     IBKR allows it (LOGIN_TYPE checked again) ──> tickle ...
//     Without isPaper the session is not reported connected before that validate.
//
//   401 anywhere after sso        -> full login again (at once if the session was healthy, else backoff)
//   tickle: connected, not authenticated -> init again, keeping the SSO session
//   tickle: competing             -> compete=true: take over with init (paced by backoff); false: wait
//   5xx, timeouts, resets, TLS, unparseable bodies -> backoff, then retry the same step (or the
//                                    login from the start when it failed in oauth/sso)
//   429                           -> wait Retry-After, or the penalty period when none is given; the
//                                    username's pacer holds the penalty, so every caller of the
//                                    username waits it out (a 429 the gateway earned included)
//   in an IBKR maintenance window (daily reset, Saturday evening): 5xx, timeouts, resets and bad
//   bodies are expected -> no escalation, retry at the backoff cap or when the window ends,
//                                    whichever is sooner
//   validate (LOGIN_TYPE) or accounts (isPaper) says live but IBKR_ENV=paper (or the reverse), or
//   the account is not listed     -> halted: log out and make no further calls until reconfigured

#include "sessiond/config/settings.hpp"
#include "sessiond/ibkr/ibkr_calendar.hpp"
#include "sessiond/ibkr/outcome.hpp"
#include "sessiond/pacing/username_pacer.hpp"
#include "sessiond/session/backoff_schedule.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace sessiond {

using wall_clock = std::chrono::system_clock;
using wall_time = wall_clock::time_point;

enum class lifecycle : std::uint8_t {
    not_configured,  // settings missing or malformed: no session runs (set by the owner, not the machine)
    connecting,      // first login flow since start (or since a reload)
    connected,       // brokerage session authenticated, not competing; tickling
    reconnecting,    // was connected; recovering after a loss or failure
    competing,       // another session holds the brokerage session for this username
    throttled,       // a login is due but the login budget does not allow one yet (see login_budget)
    halted,          // IBKR answered in a way only a human can fix (wrong environment, wrong account)
    stopping,
    stopped,
};

std::string_view to_string(lifecycle l) noexcept;

// What confirmed IBKR_ENV (paper or live) for the current SSO session.
enum class environment_check : std::uint8_t {
    none,      // nothing yet
    validate,  // validate's LOGIN_TYPE matched
    accounts,  // /iserver/accounts' isPaper matched (validate deferred, or validate had no LOGIN_TYPE)
};

std::string_view to_string(environment_check c) noexcept;

struct machine_settings {
    std::chrono::milliseconds tickle_interval{60'000};
    std::chrono::milliseconds init_settle{3'000};
    std::chrono::milliseconds http_timeout{10'000};
    std::chrono::milliseconds backoff_initial{2'000};
    std::chrono::milliseconds backoff_max{300'000};
    std::chrono::milliseconds pace_tickle{1'000};
    std::chrono::milliseconds pace_validate{60'000};
    // IBKR's global limit per username (10 requests a second in the older documentation, 50 in the
    // newer): never more requests than this in any second, whatever the other rules allow.
    int max_requests_per_second = 10;
    // IBKR puts violators in a penalty box for 10-15 minutes (protocol reference section 5).
    std::chrono::milliseconds rate_limit_penalty{15 * 60'000};
    // The login budget: full logins (token + SSO) at least this far apart, at most this many an hour.
    std::chrono::milliseconds login_min_interval{10'000};
    int logins_per_hour = 30;
    // IBKR sessions last up to 24 h; rebuild before that, on our schedule rather than theirs.
    std::chrono::milliseconds max_session_age{std::chrono::hours(23) + std::chrono::minutes(50)};
    bool compete = true;
    std::optional<ibkr_environment> environment;
    std::string account_id;
    // When IBKR is expected to fail (null: never).
    std::shared_ptr<const ibkr_calendar> calendar;

    static machine_settings from(const settings& s);
    // The limits of the username's pacer these settings ask for.
    [[nodiscard]] pacer_limits pacing() const noexcept;
    // Refresh the SSO session when less than this is left: three tickles, within [5 s, 3 min].
    [[nodiscard]] std::chrono::milliseconds sso_refresh_margin() const noexcept;
};

struct directive {
    enum class kind_t : std::uint8_t { call, idle };
    kind_t kind = kind_t::call;
    step next = step::oauth;
    std::chrono::milliseconds delay{0};
    bool compete = true;  // for step::init

    [[nodiscard]] bool idle() const noexcept { return kind == kind_t::idle; }
};

struct session_error {
    step at = step::oauth;
    failure kind = failure::none;
    int http_status = 0;
    std::string message;
    wall_time when{};
};

// The last outcome of one step (the guide's diagnostics: each login step's last HTTP status).
struct step_record {
    int http_status = 0;  // 0: no HTTP answer (a transport failure)
    failure kind = failure::none;
    bool ok = false;
    std::string message;  // the failure, safe for the status page; empty on success
    wall_time when{};
};

struct session_counters {
    std::uint64_t login_attempts = 0;  // oauth calls
    std::uint64_t logins = 0;          // SSO sessions obtained
    std::uint64_t reinits = 0;         // brokerage re-initialisations without a new login
    std::uint64_t takeovers = 0;       // init with compete=true against a competing session
    std::uint64_t reconnects = 0;      // times a healthy session was lost
    std::uint64_t relogins = 0;        // full logins because IBKR said the SSO session was gone (401)
    std::uint64_t rebuilds = 0;        // planned full logins (SSO refresh, maximum age)
    std::uint64_t tickles = 0;         // tickles answered 200
    std::array<std::uint64_t, all_failures.size() + 1> tickle_failures{};  // by failure (index = enum value)
};

struct session_snapshot {
    lifecycle state = lifecycle::connecting;
    step current_step = step::oauth;  // the call in progress, or the next one while waiting
    bool waiting = false;             // between calls (settle, interval, backoff, penalty)
    std::optional<wall_time> next_call_at;
    brokerage_status brokerage;       // as IBKR last reported it
    bool brokerage_reported = false;
    std::optional<ibkr_environment> login_type;  // as validate (LOGIN_TYPE) or accounts (isPaper) last reported it
    environment_check environment_checked_by = environment_check::none;  // for the current SSO session
    // While the current SSO session's validate waits for IBKR's one-a-minute limit (the login went
    // on without it): when it is due.
    std::optional<wall_time> validate_deferred_until;
    std::optional<wall_time> sso_expires_at;
    std::optional<wall_time> logged_in_at;
    std::optional<wall_time> connected_since;
    std::optional<wall_time> last_tickle_at;  // last tickle that found the session healthy
    std::optional<session_error> last_error;
    // Each step's last outcome (by step's value), none until the step was first answered.
    std::array<std::optional<step_record>, all_steps.size()> last_outcomes{};
    int consecutive_failures = 0;
    bool rate_limited = false;  // waiting out a 429
    // The IBKR maintenance window the last failure fell in: failures there are expected, not alarms.
    std::optional<maintenance_window> maintenance;
    // While throttled: when the login budget allows the next login, and whether what holds it back is
    // the daemon-wide login rate (SESSIOND_DAEMON_LOGIN_INTERVAL: other users' logins take the slots
    // before it) rather than this username's own budget.
    std::optional<wall_time> throttled_until;
    bool throttled_by_login_rate = false;
    // Full logins in the last hour, as of the last one started or refused by the budget.
    std::size_t logins_last_hour = 0;
    std::string halt_reason;
    // Why the session is not (or no longer) connected, in a few words: "tickle: HTTP 503 (server_error):
    // Service Unavailable", "planned rebuild: the SSO session is about to end". Empty while connected.
    std::string reason;
    session_counters counters;

    // The brokerage session may be up, but nothing has confirmed paper/live yet (no isPaper, and the
    // validate is deferred): the session is not reported connected before that validate.
    [[nodiscard]] bool waiting_for_environment_check() const noexcept {
        return validate_deferred_until.has_value() && environment_checked_by == environment_check::none;
    }
};

class lifecycle_machine {
public:
    // uniform01 returns samples of U[0, 1) for the backoff jitter. `pacer` is the username's, shared
    // with every other caller of that username (a replaced session, the gateway); without one the
    // machine paces itself alone. It is reconfigured to these settings' limits.
    lifecycle_machine(machine_settings settings, std::function<double()> uniform01,
                    std::shared_ptr<username_pacer> pacer = nullptr);

    directive start(wall_time now);
    // The driver is about to make the call the last directive named.
    void on_call_started(wall_time now);
    // The call's request went out at `at`, later than it started (it had to open a connection
    // first): its step's pace counts from then, as IBKR's does from its arrival. Call before
    // on_outcome(); an earlier time than the start changes nothing.
    void on_request_sent(wall_time at);
    directive on_outcome(const step_outcome& outcome, wall_time now);
    // Someone asked for a connection test now: the call the machine is waiting to make is made at
    // once, skipping the backoff wait but never IBKR's pacing or a 429 penalty. A connected session
    // is verified with a tickle (as soon as IBKR's tickle limit allows). Idle (halted) stays idle.
    directive on_test_requested(wall_time now);
    // New timings (reload): they apply from the next directive; state and counters are kept.
    void reconfigure(machine_settings settings);
    void on_stopping();
    void on_stopped();

    [[nodiscard]] const session_snapshot& snapshot() const noexcept { return snap_; }
    [[nodiscard]] const machine_settings& settings() const noexcept { return settings_; }
    [[nodiscard]] bool has_sso_session() const noexcept { return has_sso_; }

    // IBKR's limits for this username (username_pacer.hpp): what the machine draws from.
    [[nodiscard]] const username_pacer& pacer() const noexcept { return *pacer_; }
    [[nodiscard]] const std::shared_ptr<username_pacer>& shared_pacer() const noexcept { return pacer_; }

private:
    directive on_success(const step_outcome& o, wall_time now);
    directive on_failure(const step_outcome& o, wall_time now);
    directive after_tickle(const tickle_report& t, wall_time now);
    directive after_sso(wall_time now);
    directive after_validate(const sso_validation& v, const step_outcome& o, wall_time now);
    directive after_accounts(const step_outcome& o, wall_time now);
    // A healthy tickle while paper/live is still unconfirmed: not connected yet, wait for validate.
    directive hold_until_environment_confirmed(wall_time now);
    // The next call of a session that is up: a tickle after the interval, or the deferred validate
    // when IBKR allows it before that tickle.
    directive keep_alive(wall_time now);
    // After the deferred validate (or its failure): tickle at once when that validate was what the
    // session waited for to be reported connected, else when the next tickle was due anyway.
    directive resume_tickles(wall_time now);
    directive deferred_validate_failed(wall_time now);
    // IBKR_ENV was confirmed for this SSO session, or validate answered without LOGIN_TYPE (accepted,
    // with a warning, as it always was), or there is no IBKR_ENV to confirm.
    [[nodiscard]] bool environment_settled() const noexcept;
    // Whether the last validate of this username (if this process saw one) agrees with IBKR_ENV.
    [[nodiscard]] bool may_defer_validate() const noexcept;
    // When the deferred validate may be made: IBKR's validate pace, and the backoff after a failed one.
    [[nodiscard]] wall_time deferred_validate_at(wall_time now) const;
    directive halt(std::string reason, wall_time now);
    directive planned_rebuild(std::string why, wall_time now);
    // The window `o` failed in, when it is the kind of failure IBKR's maintenance brings.
    [[nodiscard]] std::optional<maintenance_window> expected_outage(const step_outcome& o, wall_time now) const;
    std::chrono::milliseconds maintenance_retry(const maintenance_window& w, wall_time now);

    directive call(step s, std::chrono::milliseconds delay, wall_time now, bool compete = true);
    directive full_login(std::chrono::milliseconds delay, wall_time now);
    directive idle(wall_time now);
    std::chrono::milliseconds backoff();
    std::chrono::milliseconds pacing_wait(step s, wall_time now) const;
    void record_error(const step_outcome& o, wall_time now);
    void leave_healthy_state();

    machine_settings settings_;
    std::function<double()> uniform01_;
    backoff_schedule backoff_;
    session_snapshot snap_;
    std::shared_ptr<username_pacer> pacer_;
    directive pending_;
    wall_time call_started_at_{};  // of the call in progress (on_call_started)
    bool has_sso_ = false;
    bool ever_connected_ = false;
    bool refreshing_sso_ = false;       // the validate in flight is a refresh, not part of a login
    bool validate_extends_sso_ = true;  // becomes false when a refresh validate did not extend it
    bool sso_validated_ = false;        // validate answered RESULT=true for the current SSO session
    bool validate_deferred_ = false;    // the current SSO session went on to init without validate
    int deferred_validate_failures_ = 0;
    wall_time deferred_validate_retry_at_{};  // after a failed deferred validate: its backoff
    wall_time resume_tickle_at_{};            // the tickle a deferred validate was scheduled before
    int takeover_streak_ = 0;           // takeovers of a competing session in a row
    std::optional<wall_time> last_takeover_at_;
};

}  // namespace sessiond
