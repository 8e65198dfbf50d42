#include "sessiond/app/service.hpp"

#include "sessiond/api/metrics_view.hpp"
#include "sessiond/net/tls.hpp"

#include <boost/asio/post.hpp>

#include <csignal>
#include <utility>

#include <unistd.h>

namespace sessiond {

namespace asio = boost::asio;
using std::chrono::milliseconds;

namespace {

milliseconds to_ms(seconds_f s) { return std::chrono::duration_cast<milliseconds>(s); }

std::string key_fingerprint(const ibkr_profile& p) { return p.private_key ? p.private_key->fingerprint() : std::string(); }

}  // namespace

bool same_identity(const settings& a, const settings& b) {
    const ibkr_profile& x = a.profile;
    const ibkr_profile& y = b.profile;
    return x.client_id == y.client_id && x.client_key_id == y.client_key_id &&
           key_fingerprint(x) == key_fingerprint(y) && x.credential == y.credential && x.account_id == y.account_id &&
           x.allowed_ip == y.allowed_ip && x.scope == y.scope && x.environment == y.environment &&
           a.options.endpoint.text == b.options.endpoint.text && a.options.ca_file == b.options.ca_file;
}

service::service(asio::io_context& io, std::function<config_report()> load_config, logger log)
    : io_(io),
      load_config_(std::move(load_config)),
      log_(std::move(log)),
      started_at_(wall_clock::now()),
      signals_(io, SIGTERM, SIGINT, SIGHUP),
      api_(*this, io.get_executor()),
      server_(io.get_executor(), [this](server_request r) { return api_.handle(std::move(r)); }, server_limits{},
              log_) {}

service::~service() = default;

bool service::start() {
    config_ = load_config_();
    for (const auto& w : config_.warnings) log_.warn({}, "configuration: {}", w);
    if (!config_.can_start()) {
        for (const auto& p : config_.problems)
            if (p.blocks_start) log_.error({}, "cannot start: {}: {}", p.variable, p.message);
        return false;
    }
    // --- username lock: before the API binds, so that a second daemon with the same settings names
    // the first instead of failing on its port ---
    if (config_.ok()) {
        auto lock = lock_username(config_.values);
        if (!lock) {
            log_.error({}, "cannot start: {}", lock.error().message);
            return false;
        }
        username_lock_ = std::move(*lock);
    }
    // --- end of the username lock ---
    auto bound = server_.listen(config_.values.service.listen);
    if (!bound) {
        log_.error({}, "cannot start: SESSIOND_LISTEN {}: {}", to_string(config_.values.service.listen),
                   bound.error().message);
        return false;
    }
    endpoint_ = *bound;
    if (username_lock_) username_lock_->describe_self(self_description());  // now with its API address
    server_.start();
    log_.info({}, "API listening on http://{}{} ({})",
              endpoint_->address().is_v6() ? "[" + endpoint_->address().to_string() + "]" : endpoint_->address().to_string(),
              ":" + std::to_string(endpoint_->port()),
              config_.values.service.api_token ? "POST /api/ibkr/test enabled" : "no API token: POST /api/ibkr/test disabled");
    wait_for_signal();

    if (const auto usec = watchdog_interval_from_environment()) {
        watchdog_ = std::make_unique<watchdog>(io_.get_executor(), notifier_, *usec, [this] { return healthy(); });
        watchdog_->start();
        log_.info({}, "systemd watchdog: pinging every {} ms", watchdog_->ping_interval().count() / 1000);
    }
    start_session();
    notifier_.ready();
    publish_status();
    return true;
}

void service::start_session(const session_machine::pacing_record* pacing) {
    if (!config_.ok()) {
        log_.error({.state = "not_configured"}, "not configured: {} problem(s); the daemon stays up and connects nothing",
                   config_.problems.size());
        for (const auto& p : config_.problems)
            log_.error({.state = "not_configured"}, "configuration: {}: {}", p.variable, p.message);
        return;
    }
    auto tls = make_client_tls_context(config_.values.options.ca_file);
    if (!tls) {
        config_.problems.push_back({"IBKR_CA_FILE", tls.error().message, false});
        log_.error({.state = "not_configured"}, "not configured: IBKR_CA_FILE: {}", tls.error().message);
        username_lock_.reset();  // no session keeps the username
        return;
    }
    session_ = std::make_unique<session>(io_.get_executor(), config_.values, std::move(*tls),
                                         logger(log_.impl(), config_.values.profile.account_id));
    session_->on_change([this] { on_session_change(); });
    if (pacing != nullptr) session_->continue_pacing(*pacing);
    session_->start();
}

void service::on_session_change() { publish_status(); }

void service::publish_status() {
    const std::string line = status_line(status_now());
    if (line == published_status_) return;
    published_status_ = line;
    notifier_.status(line);
}

bool service::healthy() const {
    // The timer that asks is on the event loop, so the loop turns; what remains to check is that
    // the session's work is not stuck (a call outliving its own deadline).
    return !session_ || !session_->wedged(std::chrono::steady_clock::now());
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
    // The API keeps answering (readiness 503) while the session logs out.
    auto after_logout = [this] { asio::post(io_, [this] { finish_stop(); }); };
    if (session_)
        session_->stop(after_logout);
    else
        after_logout();
}

void service::finish_stop() {
    if (retiring_) {
        // A reload's previous session is still logging out: finish once it has (its own callback,
        // queued first, releases it).
        retiring_->stop([this] { asio::post(io_, [this] { finish_stop(); }); });
        return;
    }
    server_.stop();
    username_lock_.reset();  // logged out: the username is free for another process
    retiring_username_lock_.reset();
    if (watchdog_) watchdog_->stop();
    boost::system::error_code ignored;
    signals_.cancel(ignored);
    notifier_.status("stopped");
    log_.info({}, "stopped");
}

void service::reload() {
    if (stopping_) return;
    notifier_.reloading();
    log_.info({}, "SIGHUP: reloading the configuration");
    config_report next = load_config_();
    for (const auto& w : next.warnings) log_.warn({}, "configuration: {}", w);

    const auto refuse = [&](std::string_view why) {
        log_.error({}, "reload refused: {}; keeping the running configuration", why);
        for (const auto& p : next.problems) log_.error({}, "configuration: {}: {}", p.variable, p.message);
        notifier_.ready();
        publish_status();
    };
    if (!next.can_start()) return refuse("the daemon's own settings are broken");
    if (to_string(next.values.service.listen) != to_string(config_.values.service.listen)) {
        log_.warn({}, "SESSIOND_LISTEN changed to {}: restart the daemon to listen there; still on {}",
                  to_string(next.values.service.listen), to_string(config_.values.service.listen));
        next.values.service.listen = config_.values.service.listen;
    }
    if (!next.ok() && session_) return refuse(std::to_string(next.problems.size()) + " problem(s)");

    if (session_ && same_identity(session_->config(), next.values)) {
        session_->apply_options(next.values.options);
        config_ = std::move(next);
        log_.info({}, "reloaded: same IBKR login, new settings applied without logging in again");
    } else if (session_) {
        auto next_lock = lock_username(next.values);  // username lock
        if (!next_lock) return refuse(next_lock.error().message);
        log_.info({}, "reloaded: the IBKR login changed; logging out and logging in with the new settings");
        config_ = std::move(next);
        retiring_ = std::move(session_);
        if (*next_lock) retiring_username_lock_ = std::exchange(username_lock_, std::move(*next_lock));
        retiring_->stop([this] {
            asio::post(io_, [this] {
                const auto pacing = retiring_->pacing();
                const bool same_user = retiring_->config().profile.credential == config_.values.profile.credential;
                retiring_.reset();
                retiring_username_lock_.reset();
                if (!stopping_) start_session(same_user ? &pacing : nullptr);
                publish_status();
            });
        });
    } else {
        // --- username lock ---
        if (next.ok()) {
            auto next_lock = lock_username(next.values);
            if (!next_lock) return refuse(next_lock.error().message);
            if (*next_lock) username_lock_ = std::move(*next_lock);
        } else {
            username_lock_.reset();
        }
        // --- end of the username lock ---
        config_ = std::move(next);
        log_.info({}, "reloaded");
        start_session();
    }
    notifier_.ready();
    publish_status();
}

// --- username lock ---
expected<std::optional<username_lock>> service::lock_username(const settings& next) {
    std::string name = username_lock_name(next.profile.credential, next.options.endpoint);
    if (username_lock_ && username_lock_->name() == name) return std::optional<username_lock>();
    // Our own loop could not answer our probe: say what holds it rather than "did not answer".
    if (retiring_username_lock_ && retiring_username_lock_->name() == name)
        return make_error("this daemon's previous session for that IBKR username is still logging out; reload again "
                          "once it has");
    auto attempt = username_lock::acquire(io_.get_executor(), std::move(name), self_description());
    if (auto* lock = std::get_if<username_lock>(&attempt)) return std::optional<username_lock>(std::move(*lock));
    if (auto* held = std::get_if<username_lock::held_elsewhere>(&attempt)) {
        start_failure_ = exit_tempfail;
        return make_error(describe_holder(held->holder, next.options.endpoint));
    }
    start_failure_ = exit_oserr;
    return make_error("the host-wide lock for this IBKR username: " + std::get<error>(attempt).message);
}

lock_holder service::self_description() const {
    lock_holder self{::getpid(), {}, SESSIOND_VERSION, "run"};
    if (endpoint_) self.api = api_url(endpoint_->address().to_string(), endpoint_->port());
    return self;
}
// --- end of the username lock ---

status_input service::status_now() const {
    return status_input{config_, session_ ? &session_->snapshot() : nullptr, stopping_, started_at_, wall_clock::now()};
}

void service::run_connection_test(std::function<void(const connection_test_report&)> done) {
    if (session_) session_->run_test(std::move(done));
}

std::string service::metrics_text() const {
    const status_input st = status_now();
    const server_stats served_connections = server_.stats();
    const metrics_input in{st, session_.get(), &api_.served().counts(), read_process_stats(),
                           watchdog_ ? watchdog_->pings() : 0, &served_connections};
    return render_metrics(in);
}

milliseconds service::test_timeout() const {
    const auto& o = config_.values.options;
    return std::min(milliseconds(120'000), 6 * to_ms(o.http_timeout) + to_ms(o.init_settle) + milliseconds(5'000));
}

}  // namespace sessiond
