#pragma once
// One IBKR user's session, kept alive on an event loop shared with everything else in the process.
//
// It owns the HTTPS connection, the tokens and the timers, and carries out what the session
// machine decides, one call at a time (so there is never more than one login flow in flight).
// Any number of sessions can live on one io_context: nothing here is global.

#include "sessiond/config/settings.hpp"
#include "sessiond/core/offload.hpp"
#include "sessiond/ibkr/ibkr_client.hpp"
#include "sessiond/log/log.hpp"
#include "sessiond/log/repeat_filter.hpp"
#include "sessiond/metrics/histogram.hpp"
#include "sessiond/pacing/pacing_store.hpp"
#include "sessiond/session/lifecycle_machine.hpp"
#include "sessiond/session/test_tracker.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <filesystem>
#include <functional>
#include <optional>
#include <memory>
#include <random>
#include <vector>

namespace sessiond {

// The pacing store of `config`'s state directory (pacing/pacing_file_store.hpp), its disk work on
// `blocking`; null without a state directory: the record then lives in memory only.
std::shared_ptr<pacing_store> state_directory_store(const settings& config, offload blocking);

class session_keeper {
public:
    using observer = std::function<void()>;

    // `pacer` is the username's (shared with whatever else calls IBKR for it; null: a pacer of its
    // own), `store` where its record survives a restart (null: in memory only). `blocking` runs what must not block the
    // loop: the login's RSA signatures (inline when default-constructed). `shared`: the daemon's idle
    // connections to IBKR, where the session's connection waits between calls (none: kept by the session).
    // `config` is shared, not copied: the registry's slot holds the same one.
    session_keeper(boost::asio::any_io_executor executor, std::shared_ptr<const settings> config,
            std::shared_ptr<boost::asio::ssl::context> tls,
            logger log, std::shared_ptr<username_pacer> pacer, std::shared_ptr<pacing_store> store,
            offload blocking = {}, std::shared_ptr<idle_connections> shared = nullptr);
    ~session_keeper();
    session_keeper(const session_keeper&) = delete;
    session_keeper& operator=(const session_keeper&) = delete;

    // Starts the login flow and the keep-alive loop.
    void start();
    // Cancels the call or wait in progress, logs out of IBKR within a bounded time when a session is
    // open, then calls done (on the event loop). Further calls only add to the callbacks.
    void stop(std::function<void()> done);

    [[nodiscard]] const session_snapshot& snapshot() const noexcept { return machine_.snapshot(); }
    [[nodiscard]] const settings& config() const noexcept { return *config_; }
    // How long IBKR took to answer each step's calls (for /metrics).
    [[nodiscard]] const histogram& request_durations(step s) const noexcept {
        return durations_[static_cast<std::size_t>(s)];
    }
    // Called on the event loop after every change of the snapshot.
    void on_change(observer o) { observers_.push_back(std::move(o)); }

    // The guide's "Test Connection" on this session: a connected session is verified without being
    // torn down; one that is down runs its login flow now, skipping the backoff wait but never IBKR's
    // pacing or a 429 penalty (see test_tracker.hpp). done is called on the event loop with the
    // report. Calls while a test runs share it.
    void run_test(std::function<void(const connection_test_report&)> done);

    // IBKR's limits for this username, as this keeper draws from them (the one it was given, or its own).
    [[nodiscard]] const std::shared_ptr<username_pacer>& pacer() const noexcept { return machine_.shared_pacer(); }

    // The logout this session made when it stopped, once stop() has finished (none without an SSO
    // session to end).
    [[nodiscard]] const std::optional<step_outcome>& last_logout() const noexcept { return last_logout_; }

    // True when a call has outlived its deadline twice over: the loop's work is stuck, and the
    // watchdog should stop vouching for the process.
    [[nodiscard]] bool wedged(std::chrono::steady_clock::time_point now) const noexcept;

    // A reload's settings for the same identity (same_identity()): timing, pacing, backoff, budget
    // and compete settings take effect from the next call, without a new login. Identity changes
    // need a new session.
    void apply(std::shared_ptr<const settings> next);

    // ---- what the gateway asks of the session ----
    // Clients' calls are forwarded only while the brokerage session is connected: authenticated, not
    // competing, paper/live confirmed.
    [[nodiscard]] bool serves_clients() const {
        return machine_.snapshot().state == lifecycle::connected && client_.has_sso_session() && client_.permitted();
    }
    // Adds the SSO bearer and IBKR's cookies to a forwarded request (false without an SSO session).
    bool authorize(http_request& req) const { return client_.authorize(req); }
    void keep_cookies(const http_response& res) { client_.keep_cookies(res); }
    // A forwarded call got 401: the session is checked with a tickle as soon as IBKR's pace allows,
    // so that a lost SSO session is logged in again at once (under the login budget). Nothing happens
    // while the session is already recovering, in a call, or in a connection test.
    void check_now(std::string_view why);
    // What the gateway's WebSocket opens IBKR's with (?bearer_token=, cookie api=<tickle session>),
    // while the session serves clients. `generation` grows with every new SSO session: a WebSocket
    // opened with an older one is dead and must be opened again.
    struct websocket_login {
        secret bearer;
        secret tickle_session;
        secret cookies;
        std::uint64_t generation = 0;
    };
    [[nodiscard]] std::optional<websocket_login> websocket_login_now() const {
        if (!serves_clients() || client_.tickle_session().empty()) return std::nullopt;
        return websocket_login{client_.sso_bearer(), client_.tickle_session(), client_.cookie_header(),
                               client_.sso_generation()};
    }
    // The TLS context and endpoint the session's calls use (the gateway's connections use the same).
    [[nodiscard]] const std::shared_ptr<boost::asio::ssl::context>& tls() const noexcept { return tls_; }

    // Several replicas: whether this daemon may still call IBKR for the session's user (its lease),
    // asked before every request. Once it says no, nothing more is sent, the logout included: a
    // logout could end the session another replica has opened since.
    void fence(ibkr_client::call_permit permit) { client_.fence(std::move(permit)); }

    // Logout at shutdown waits at most this long.
    static constexpr std::chrono::milliseconds logout_budget{5'000};
    // Waits a connection test sits through; longer ones (pacing, 429 penalty) end the test instead.
    static constexpr std::chrono::milliseconds max_test_wait{2'000};

private:
    boost::asio::awaitable<void> run();
    boost::asio::awaitable<void> wait(std::chrono::milliseconds delay);
    boost::asio::awaitable<void> logout_before_exit();
    void log_outcome(const step_outcome& o, const directive& next);
    // What checked paper/live for this SSO session while validate waits for IBKR's minute.
    void log_deferred_validate(const step_outcome& o) const;
    void follow_test(const step_outcome& outcome);
    void record_duration(const step_outcome& o);
    void finish_test();
    // The test asked for by run_test(), once the session's first call is decided.
    void begin_test();
    void log_transition(lifecycle before) const;
    void notify() const;
    void finish_stop();
    boost::asio::awaitable<void> load_pacing();
    boost::asio::awaitable<void> save_pacing();

    boost::asio::any_io_executor executor_;
    offload blocking_;
    std::shared_ptr<const settings> config_;
    logger log_;
    std::shared_ptr<boost::asio::ssl::context> tls_;
    ibkr_client client_;
    std::minstd_rand random_;  // backoff jitter only: 8 bytes, where mt19937_64 kept 2.5 KiB a session
    lifecycle_machine machine_;
    boost::asio::steady_timer wait_timer_;
    std::vector<observer> observers_;
    std::vector<std::function<void()>> stop_callbacks_;
    directive next_;
    std::array<histogram, all_steps.size()> durations_;
    repeat_filter repeated_failures_;  // an outage's identical failures: one warning a minute, with a count
    struct test_run {
        explicit test_run(const session_snapshot& s) : tracker(s) {}
        test_run(const session_snapshot& s, std::vector<std::function<void(const connection_test_report&)>> w)
            : tracker(s), waiters(std::move(w)) {}
        test_tracker tracker;
        std::vector<std::function<void(const connection_test_report&)>> waiters;
    };
    std::optional<test_run> test_;
    std::shared_ptr<pacing_store> pacing_store_;  // null: the record lives in memory only
    std::optional<step_outcome> last_logout_;
    bool first_call_decided_ = false;
    bool running_ = false;
    bool stopping_ = false;
    bool in_call_ = false;
    bool rescheduled_ = false;
    std::chrono::steady_clock::time_point call_started_{};
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace sessiond
