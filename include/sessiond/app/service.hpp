#pragma once
// The running daemon: its configuration, its session, its HTTP API, and its conversation with
// systemd (READY, STATUS, WATCHDOG, RELOADING, STOPPING) and with signals (TERM/INT stop, HUP
// reloads). Everything runs on one io_context.
//
// It stays up when the IBKR settings are incomplete (not_configured, naming every problem) so that
// the status API can say why nothing is connected; it refuses to start only when it cannot serve
// that API (a bad SESSIOND_LISTEN, listening beyond loopback without a token).

#include "sessiond/api/api.hpp"
#include "sessiond/app/cli.hpp"
#include "sessiond/app/multi_user_mode.hpp"
#include "sessiond/config/settings.hpp"
#include "sessiond/core/background_worker.hpp"
#include "sessiond/gateway/gateway.hpp"
#include "sessiond/host/username_lock.hpp"
#include "sessiond/log/log.hpp"
#include "sessiond/server/http_server.hpp"
#include "sessiond/session/session_registry.hpp"
#include "sessiond/systemd/notifier.hpp"
#include "sessiond/systemd/watchdog.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/ssl/context.hpp>

#include <functional>
#include <memory>
#include <optional>

namespace sessiond {

class service final : public api_backend {
public:
    // load_config reads the settings from their sources; it is called at start and on every SIGHUP.
    service(boost::asio::io_context& io, std::function<config_report()> load_config, logger log);
    ~service() override;

    // Reads the configuration, binds the API, starts the session when configured, installs the
    // signal handlers and tells systemd READY=1 (before any IBKR call: an IBKR outage at boot must
    // not fail the unit). False, after logging why, when the daemon cannot start at all.
    bool start();
    // SIGTERM: STOPPING=1, readiness 503, IBKR logout (bounded), listener closed, io_context runs dry.
    void stop();
    // SIGHUP: RELOADING=1, re-read settings and credentials (on the worker: files, the state
    // directory, the CA file), apply them (a changed identity means a new login), READY=1. A broken
    // configuration keeps the running one and says why. A SIGHUP during a reload reloads once more
    // after it.
    void reload();

    [[nodiscard]] std::optional<boost::asio::ip::tcp::endpoint> api_endpoint() const noexcept { return endpoint_; }
    [[nodiscard]] std::optional<boost::asio::ip::tcp::endpoint> https_endpoint() const noexcept { return https_endpoint_; }
    // After start() returned false: the process's exit code (cli.hpp): exit_tempfail when another
    // process on this host keeps this IBKR username, exit_oserr when its lock cannot be made,
    // exit_config otherwise.
    [[nodiscard]] int start_failure_exit_code() const noexcept { return start_failure_; }

    // api_backend
    [[nodiscard]] status_input status_now() const override;
    [[nodiscard]] std::uint64_t status_generation() const override { return status_generation_; }
    void run_connection_test(std::function<void(const connection_test_report&)> done) override;
    [[nodiscard]] std::string metrics_text() const override;
    [[nodiscard]] const std::optional<secret>& api_token() const override { return config_.values.service.api_token; }
    [[nodiscard]] std::chrono::milliseconds test_timeout() const override;

private:
    void wait_for_signal();
    // What a configuration needs from the disk: the settings, and the TLS context of an usable one.
    struct loaded_config {
        config_report report;
        std::optional<expected<std::shared_ptr<boost::asio::ssl::context>>> tls;
        // Multi-user mode's master keys, read again on a reload (a rotation adds a version).
        std::optional<expected<master_keyring>> keys;
    };
    static loaded_config load(const std::function<config_report()>& load_config);
    boost::asio::awaitable<void> reload_off_the_loop();
    void apply_reload(loaded_config next);
    // The sessions `config` names, with their TLS contexts: none when it is not usable (a TLS context
    // that could not be made is added to its problems).
    std::vector<desired_session> desired_sessions(loaded_config& config);
    void publish_status();
    // After a session's change (see service.cpp).
    void publish_status_soon();
    void log_gateway(const std::string& url) const;
    // The gateway's HTTPS listener (SESSIOND_GATEWAY_HTTPS_LISTEN), when configured: false, after
    // logging why, when it cannot be started.
    bool start_https_listener();
    void finish_stop();
    void close_listeners();
    [[nodiscard]] bool healthy() const;

    // The host-wide lock for the username `config` logs in as (the registry's claim function): an
    // error naming the holder when another process holds it (sets start_failure_).
    expected<username_lock> lock_username(const settings& config);
    [[nodiscard]] lock_holder self_description() const;
    // ENABLE_MULTI_USER=true: the keyring and the database, before the API binds (false, after
    // logging why: exit 78); the users' sessions start once the loop runs.
    bool open_multi_user(const loaded_config& loaded);
    void apply_multi_user_reload(loaded_config next);
    int start_failure_ = exit_config;

    boost::asio::io_context& io_;
    std::function<config_report()> load_config_;
    logger log_;
    config_report config_;
    wall_time started_at_;
    boost::asio::signal_set signals_;
    notifier notifier_;
    std::unique_ptr<watchdog> watchdog_;
    // What must not block the loop (signatures, fsync); destroyed after the sessions that use it.
    background_worker worker_;
    session_registry sessions_;
    gateway gateway_;
    api api_;
    http_server server_;
    std::optional<boost::asio::ip::tcp::endpoint> endpoint_;
    // Multi-user mode's parts (none in single-user mode); before the registry's sessions end, after
    // the API and the gateway that ask it stop being called.
    std::unique_ptr<multi_user_mode> multi_user_;
    // The second, HTTPS listener of the gateway and the API (none unless configured).
    std::unique_ptr<boost::asio::ssl::context> https_tls_;
    std::unique_ptr<http_server> https_server_;
    std::optional<boost::asio::ip::tcp::endpoint> https_endpoint_;
    std::string published_status_;
    boost::asio::steady_timer status_timer_{io_};
    bool status_timer_armed_ = false;
    std::uint64_t status_generation_ = 0;
    bool stopping_ = false;
    bool reloading_ = false;
    bool reload_again_ = false;  // a SIGHUP came during a reload
};

}  // namespace sessiond
