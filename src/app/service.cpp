#include "sessiond/app/service.hpp"

#include "sessiond/api/metrics_view.hpp"
#include "sessiond/crypto/tls_identity.hpp"
#include "sessiond/net/tls.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>

#include <csignal>
#include <utility>

#include <unistd.h>

namespace sessiond {

namespace asio = boost::asio;
using std::chrono::milliseconds;

namespace {

milliseconds to_ms(seconds_f s) { return std::chrono::duration_cast<milliseconds>(s); }

std::string url_of(std::string_view scheme, const asio::ip::tcp::endpoint& e) {
    const std::string host = e.address().is_v6() ? "[" + e.address().to_string() + "]" : e.address().to_string();
    return std::string(scheme) + "://" + host + ":" + std::to_string(e.port());
}

// The generated certificate of the HTTPS listener: long-lived (the daemon runs for months), renewed at
// a start within its last 30 days.
constexpr std::chrono::seconds generated_certificate_validity{825L * 24 * 3600};
constexpr std::chrono::seconds renew_generated_certificate{30L * 24 * 3600};

}  // namespace

service::service(asio::io_context& io, std::function<config_report()> load_config, logger log)
    : io_(io),
      load_config_(std::move(load_config)),
      log_(std::move(log)),
      started_at_(wall_clock::now()),
      signals_(io, SIGTERM, SIGINT, SIGHUP),
      sessions_(io.get_executor(), log_, worker_.work()),
      gateway_(io.get_executor(), sessions_, log_),
      api_(*this, io.get_executor(), &gateway_),
      server_(io.get_executor(),
              [this](server_request r, const connection_context& c) { return api_.handle(std::move(r), c); },
              server_options{server_limits{}, nullptr, {}, {},
                             [this](const server_request& header, const peer_info& peer) { return api_.body_limit(header, peer); }},
              log_) {}

bool service::start_https_listener() {
    const gateway_options& gw = config_.values.gateway;
    if (!gw.enabled || !gw.https_listen) return true;
    expected<tls_identity> identity = make_error("no certificate");
    std::string source;
    const tls_identity_options generated{.host = std::nullopt,
                                         .validity = generated_certificate_validity,
                                         .ca_name = "ibkr-sessiond gateway CA",
                                         .renew_before = renew_generated_certificate};
    if (gw.tls_cert && gw.tls_key) {
        identity = load_tls_identity(*gw.tls_cert, *gw.tls_key);
        source = "from SESSIOND_GATEWAY_TLS_CERT " + gw.tls_cert->string();
    } else if (const auto& dir = config_.values.service.state_dir) {
        const auto where = *dir / "gateway-tls";
        bool created = false;
        identity = load_or_create_tls_identity(where, generated, &created);
        source = std::string(created ? "generated now and kept in " : "generated at an earlier start, kept in ") +
                 where.string() + " (clients that verify trust " + (where / "ca.pem").string() + ")";
    } else {
        identity = generate_tls_identity(generated);
        source = "generated for this run only (no state directory): clients see a new one after every restart";
    }
    if (!identity) {
        log_.error({}, "cannot start: SESSIOND_GATEWAY_HTTPS_LISTEN: the certificate: {}", identity.error().message);
        return false;
    }
    auto context = make_server_context(*identity);
    if (!context) {
        log_.error({}, "cannot start: SESSIOND_GATEWAY_HTTPS_LISTEN: {}", context.error().message);
        return false;
    }
    https_tls_ = std::make_unique<asio::ssl::context>(std::move(*context));
    https_server_ = std::make_unique<http_server>(
        io_.get_executor(), [this](server_request r, const connection_context& c) { return api_.handle(std::move(r), c); },
        server_options{server_limits{}, https_tls_.get(), {}, {},
                       [this](const server_request& header, const peer_info& peer) { return api_.body_limit(header, peer); }},
        log_);
    auto bound = https_server_->listen(*gw.https_listen);
    if (!bound) {
        log_.error({}, "cannot start: SESSIOND_GATEWAY_HTTPS_LISTEN {}: {}", to_string(*gw.https_listen),
                   bound.error().message);
        return false;
    }
    https_endpoint_ = *bound;
    https_server_->start();
    log_.info({}, "gateway also on {}/v1/api/ (HTTPS; certificate {})", url_of("https", *https_endpoint_), source);
    return true;
}

service::~service() = default;

service::loaded_config service::load(const std::function<config_report()>& load_config) {
    loaded_config out{load_config(), std::nullopt, std::nullopt};
    if (out.report.ok()) out.tls = make_client_tls_context(out.report.values.options.ca_file);
    if (out.report.values.multi_user) out.keys = multi_user_mode::read_keyring(out.report.values.master_key_file);
    return out;
}

bool service::start() {
    loaded_config loaded = load(load_config_);  // before the loop runs: nothing to hold up yet
    for (const auto& w : loaded.report.warnings) log_.warn({}, "configuration: {}", w);
    if (!loaded.report.can_start()) {
        for (const auto& p : loaded.report.problems)
            if (p.blocks_start) log_.error({}, "cannot start: {}: {}", p.variable, p.message);
        config_ = std::move(loaded.report);
        return false;
    }
    if (loaded.report.values.multi_user && !open_multi_user(loaded)) return false;
    std::vector<desired_session> desired = desired_sessions(loaded);
    config_ = std::move(loaded.report);  // with a CA file's problem added
    gateway_.configure(config_.values);
    // The username locks before the API binds: a second daemon with the same settings names the
    // first, instead of failing on its port.
    sessions_.on_claim([this](const settings& config) { return lock_username(config); });
    auto claims = sessions_.claim(desired);
    if (!claims) {
        log_.error({}, "cannot start: {}", claims.error().message);
        return false;
    }
    auto bound = server_.listen(config_.values.service.listen);
    if (!bound) {
        log_.error({}, "cannot start: SESSIOND_LISTEN {}: {}", to_string(config_.values.service.listen),
                   bound.error().message);
        return false;
    }
    endpoint_ = *bound;
    server_.start();
    const std::string url = url_of("http", *endpoint_);
    log_.info({}, "API listening on {} ({})", url,
              config_.values.service.api_token ? "POST /api/ibkr/test enabled" : "no API token: POST /api/ibkr/test disabled");
    log_gateway(url);
    if (!start_https_listener()) return false;
    gateway_.set_listeners(url, https_endpoint_ ? url_of("https", *https_endpoint_) : std::string());
    if (!worker_.yields_to_the_loop())
        log_.info({}, "the worker thread (signatures, fsync) runs at the loop's priority: setpriority was refused");
    wait_for_signal();

    if (const auto usec = watchdog_interval_from_environment()) {
        watchdog_ = std::make_unique<watchdog>(io_.get_executor(), notifier_, *usec, [this] { return healthy(); });
        watchdog_->start();
        log_.info({}, "systemd watchdog: pinging every {} ms", watchdog_->ping_interval().count() / 1000);
    }
    for (auto& lock : *claims)
        if (lock) lock->describe_self(self_description());  // now with the API's address
    sessions_.on_change([this] {
        publish_status_soon();
        gateway_.on_sessions_changed();
    });
    sessions_.reconcile(std::move(desired), std::move(*claims));
    if (multi_user_) {
        asio::co_spawn(io_, multi_user_->load(), [](std::exception_ptr e) {
            if (e) std::rethrow_exception(e);
        });
    }
    notifier_.ready();
    publish_status();
    return true;
}

bool service::open_multi_user(const loaded_config& loaded) {
    const settings& values = loaded.report.values;
    // What every user's session shares must be right: there is no "not configured" to stay up in.
    if (!loaded.report.ok()) {
        for (const auto& p : loaded.report.problems)
            log_.error({}, "cannot start: multi-user mode: {}: {}", p.variable, p.message);
        return false;
    }
    if (loaded.tls && !*loaded.tls) {
        log_.error({}, "cannot start: multi-user mode: IBKR_CA_FILE: {}", loaded.tls->error().message);
        return false;
    }
    if (!loaded.keys || !*loaded.keys) {
        log_.error({}, "cannot start: multi-user mode needs its master key: {}",
                   loaded.keys ? loaded.keys->error().message : std::string("not read"));
        return false;
    }
    auto database = database_target_of(values.service, true);
    if (!database) {
        log_.error({}, "cannot start: multi-user mode: {}", database.error().message);
        return false;
    }
    auto opened = multi_user_mode::open(
        {io_.get_executor(), sessions_, **loaded.tls, worker_.work(),
         multi_user_sessions::daemon_view{&config_, [this] { return stopping_; }, started_at_}, log_, values},
        **loaded.keys, std::move(*database));
    if (!opened) {
        log_.error({}, "cannot start: {}", opened.error().message);
        start_failure_ = exit_config;
        return false;
    }
    multi_user_ = std::move(*opened);
    api_.serve_users(multi_user_->users());
    gateway_.resolve_users_with(
        [this](std::string_view token) { return multi_user_->username_for_token(token); });
    if (replica_runner* replica = multi_user_->replica()) {
        gateway_.held_elsewhere_with(replica->leases().id(), [this, replica](std::string_view username) {
            const std::string_view user = multi_user_->sessions().user_of(username);
            return !user.empty() && !replica->leases().holds(user);
        });
    }
    log_.info({}, "multi-user mode: users and their sealed IBKR credentials in {}", multi_user_->database_where());
    return true;
}

std::vector<desired_session> service::desired_sessions(loaded_config& loaded) {
    config_report& config = loaded.report;
    std::vector<desired_session> desired;
    if (!config.ok() || !loaded.tls) {
        log_.error({.state = "not_configured"}, "not configured: {} problem(s); the daemon stays up and connects nothing",
                   config.problems.size());
        for (const auto& p : config.problems)
            log_.error({.state = "not_configured"}, "configuration: {}: {}", p.variable, p.message);
    } else if (auto& tls = *loaded.tls; !tls) {
        config.problems.push_back({"IBKR_CA_FILE", tls.error().message, false});
        log_.error({.state = "not_configured"}, "not configured: IBKR_CA_FILE: {}", tls.error().message);
    } else if (!config.values.multi_user) {  // multi-user mode's sessions are its users'
        desired.push_back({std::make_shared<const settings>(config.values), std::move(*tls), {}});
    }
    return desired;
}

expected<username_lock> service::lock_username(const settings& config) {
    auto attempt = username_lock::acquire(io_.get_executor(), username_lock_name(config.profile.credential, config.options.endpoint),
                                          self_description());
    if (auto* lock = std::get_if<username_lock>(&attempt)) return std::move(*lock);
    if (auto* held = std::get_if<username_lock::held_elsewhere>(&attempt)) {
        start_failure_ = exit_tempfail;
        return make_error(describe_holder(held->holder, config.options.endpoint));
    }
    start_failure_ = exit_oserr;
    return make_error("the host-wide lock for this IBKR username: " + std::get<error>(attempt).message);
}

lock_holder service::self_description() const {
    lock_holder self{::getpid(), {}, SESSIOND_VERSION, "run"};
    if (endpoint_) self.api = api_url(endpoint_->address().to_string(), endpoint_->port());
    return self;
}

void service::publish_status_soon() {
    // The API's cached status is stale at once (the generation). The systemd status line walks every
    // user: with many users it is made at most every 250 ms, not on each change (a start of 10,000
    // users spent 80 % of the loop's core on it, and its logins went at half the configured rate).
    ++status_generation_;
    if (!multi_user_) {
        publish_status();
        return;
    }
    if (std::exchange(status_timer_armed_, true)) return;
    status_timer_.expires_after(std::chrono::milliseconds(250));
    status_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec) return;  // the service is going: nothing of it may be touched
        status_timer_armed_ = false;
        publish_status();
    });
}

void service::publish_status() {
    ++status_generation_;
    api_.status_changed();
    const std::string line = status_line(status_now());
    if (line == published_status_) return;
    published_status_ = line;
    notifier_.status(line);
}

void service::log_gateway(const std::string& url) const {
    const gateway_options& gw = config_.values.gateway;
    if (!gw.enabled) {
        log_.info({}, "gateway off (SESSIOND_GATEWAY=off): /v1/api/... is not served");
        return;
    }
    const std::string clients = config_.values.multi_user ? std::string("clients bearing their user's API token")
                                : gw.token ? "clients bearing the gateway token (" + gw.token_source + ")"
                                           : std::string("loopback clients");
    log_.info({}, "gateway on {}/v1/api/ for {} (requests wait at most {} ms for IBKR's limits and the session)", url,
              clients, gw.max_wait.count());
}

bool service::healthy() const {
    // The timer that asks is on the event loop, so the loop turns; what remains to check is that
    // the sessions' work is not stuck (a call outliving its own deadline).
    return !sessions_.wedged(std::chrono::steady_clock::now());
}

void service::wait_for_signal() {
    signals_.async_wait([this](const boost::system::error_code& ec, int signal) {
        if (ec) return;
        if (signal == SIGHUP) {
            reload();
            wait_for_signal();
            return;
        }
        log_.info({}, "received {}; stopping", signal == SIGTERM ? "SIGTERM" : "SIGINT");
        stop();
    });
}

void service::stop() {
    if (stopping_) return;
    stopping_ = true;
    notifier_.stopping();
    publish_status();
    gateway_.stop();
    if (multi_user_) multi_user_->stopping();
    // The API keeps answering (readiness 503) while the sessions log out; then a replica's leases go.
    sessions_.stop([this] {
        asio::post(io_, [this] {
            if (!multi_user_) return finish_stop();
            asio::co_spawn(io_, multi_user_->finish(), [this](std::exception_ptr e) {
                if (e) std::rethrow_exception(e);
                finish_stop();
            });
        });
    });
}

void service::finish_stop() {
    // The pages' event streams send their last status ("stopping") before the listeners close.
    api_.stop_events([this] { close_listeners(); });
}

void service::close_listeners() {
    server_.stop();
    if (https_server_) https_server_->stop();
    if (watchdog_) watchdog_->stop();
    boost::system::error_code ignored;
    signals_.cancel(ignored);
    status_timer_.cancel();  // "stopped" is the last status line
    notifier_.status("stopped");
    log_.info({}, "stopped");
}

void service::reload() {
    if (stopping_) return;
    if (reloading_) {
        reload_again_ = true;
        return;
    }
    reloading_ = true;
    notifier_.reloading();
    log_.info({}, "SIGHUP: reloading the configuration");
    asio::co_spawn(io_, reload_off_the_loop(), [this](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);  // a broken invariant: crash loudly
    });
}

asio::awaitable<void> service::reload_off_the_loop() {
    // The env file, key files, the state directory and the CA file are read on the worker: a slow
    // disk must not hold up the sessions' calls and the probes.
    auto read = [load_config = load_config_] { return load(load_config); };
    loaded_config next = co_await worker_.work().run(std::move(read));
    reloading_ = false;
    if (!stopping_) apply_reload(std::move(next));
    if (std::exchange(reload_again_, false) && !stopping_) {
        log_.info({}, "another SIGHUP came during that reload: reloading again");
        reload();
    }
}

void service::apply_reload(loaded_config loaded) {
    config_report& next = loaded.report;
    for (const auto& w : next.warnings) log_.warn({}, "configuration: {}", w);

    const auto refuse = [&](std::string_view why) {
        log_.error({}, "reload refused: {}; keeping the running configuration", why);
        for (const auto& p : next.problems) log_.error({}, "configuration: {}: {}", p.variable, p.message);
        notifier_.ready();
        publish_status();
    };
    if (!next.can_start()) return refuse("settings the daemon refuses to run with");
    if (to_string(next.values.service.listen) != to_string(config_.values.service.listen)) {
        log_.warn({}, "SESSIOND_LISTEN changed to {}: restart the daemon to listen there; still on {}",
                  to_string(next.values.service.listen), to_string(config_.values.service.listen));
        next.values.service.listen = config_.values.service.listen;
    }
    {
        gateway_options& now = config_.values.gateway;
        gateway_options& asked = next.values.gateway;
        const auto https_of = [](const gateway_options& g) {
            return g.https_listen ? to_string(*g.https_listen) : std::string("none");
        };
        if (https_of(asked) != https_of(now) || asked.tls_cert != now.tls_cert || asked.tls_key != now.tls_key) {
            log_.warn({}, "the gateway's HTTPS listener or certificate changed: restart the daemon to apply it; still {}",
                      https_of(now));
            asked.https_listen = now.https_listen;
            asked.tls_cert = now.tls_cert;
            asked.tls_key = now.tls_key;
        }
    }
    if (next.values.multi_user != config_.values.multi_user)
        return refuse("ENABLE_MULTI_USER changed: restart the daemon to switch modes");
    if (!next.ok() && sessions_.size() > 0) return refuse(std::to_string(next.problems.size()) + " problem(s)");
    if (multi_user_) return apply_multi_user_reload(std::move(loaded));

    std::vector<desired_session> desired = desired_sessions(loaded);
    auto claims = sessions_.claim(desired);
    if (!claims) return refuse(claims.error().message);
    const auto users = sessions_.users();
    const bool same = users.size() == 1 && next.ok() && same_identity(*users.front().config, next.values);
    const bool gateway_changed = next.values.gateway.enabled != config_.values.gateway.enabled ||
                                 next.values.gateway.token.has_value() != config_.values.gateway.token.has_value();
    config_ = std::move(next);
    gateway_.configure(config_.values);
    if (gateway_changed && endpoint_) log_gateway(url_of("http", *endpoint_));
    if (same)
        log_.info({}, "reloaded: same IBKR login, new settings applied without logging in again");
    else if (!users.empty())
        log_.info({}, "reloaded: the IBKR login changed; logging out and logging in with the new settings");
    else
        log_.info({}, "reloaded");
    // The registry decides: same login, new options in place; another login, after the old one's logout.
    sessions_.reconcile(std::move(desired), std::move(*claims));
    notifier_.ready();
    publish_status();
}

void service::apply_multi_user_reload(loaded_config loaded) {
    config_report& next = loaded.report;
    const bool gateway_changed = next.values.gateway.enabled != config_.values.gateway.enabled;
    config_ = std::move(next);
    gateway_.configure(config_.values);
    if (gateway_changed && endpoint_) log_gateway(url_of("http", *endpoint_));
    // Every user's session gets the daemon's new settings (same login: in place).
    multi_user_->sessions().reconfigure();
    // A key rotation adds a master key version: from now on new records and audit entries use it.
    if (!loaded.keys || !*loaded.keys) {
        log_.error({}, "reload: the master keys: {}; keeping the keys in use",
                   loaded.keys ? loaded.keys->error().message : std::string("not read"));
    } else {
        multi_user_->use_keyring(std::move(**loaded.keys));
        std::string list;
        for (const auto v : multi_user_->keyring().versions()) list += (list.empty() ? "" : ", ") + std::to_string(v);
        log_.info({}, "master key versions loaded: {} (new records use {})", list,
                  multi_user_->keyring().current_version());
    }
    log_.info({}, "reloaded");
    notifier_.ready();
    publish_status();
}

status_input service::status_now() const {
    status_input in{config_, {}, stopping_, started_at_, wall_clock::now(), gateway_.status_json()};
    if (multi_user_) in.store_reachable = multi_user_->users().store_reachable();
    for (const auto& u : sessions_.users()) {
        in.users.push_back({u.config, u.running != nullptr ? &u.running->snapshot() : nullptr});
        // The user id is the session's name in multi-user mode: no lookup for each of 10,000 users.
        if (multi_user_) in.users.back().user_id = !u.name.empty() ? u.name : multi_user_->sessions().user_of(u.config->profile.credential);
    }
    return in;
}

void service::run_connection_test(std::function<void(const connection_test_report&)> done) {
    (void)sessions_.run_test({}, std::move(done));
}

std::string service::metrics_text() const {
    const status_input st = status_now();
    const server_stats served_connections = server_.stats();
    metrics_input in{st, {}, &api_.served().counts(), read_process_stats(), watchdog_ ? watchdog_->pings() : 0,
                     &served_connections, &gateway_.stats(), gateway_.waiting(),
                     static_cast<std::size_t>(config_.values.options.metrics_user_series)};
    for (const auto& u : sessions_.users()) in.running.push_back(u.running);
    return render_metrics(in);
}

milliseconds service::test_timeout() const {
    const auto& o = config_.values.options;
    return std::min(milliseconds(120'000), 6 * to_ms(o.http_timeout) + to_ms(o.init_settle) + milliseconds(5'000));
}

}  // namespace sessiond
