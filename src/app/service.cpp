#include "sessiond/app/service.hpp"

#include "sessiond/net/tls.hpp"

#include <csignal>

namespace sessiond {

service::service(boost::asio::io_context& io, config_report config, logger log)
    : io_(io), signals_(io, SIGTERM, SIGINT), config_(std::move(config)), log_(std::move(log)) {}

lifecycle service::state() const noexcept {
    return session_ ? session_->snapshot().state : lifecycle::not_configured;
}

void service::start() {
    wait_for_signal();
    for (const auto& w : config_.warnings) log_.warn({}, "configuration: {}", w);
    if (config_.ok()) {
        auto tls = make_client_tls_context(config_.values.options.ca_file);
        if (!tls) config_.problems.push_back({"IBKR_CA_FILE", tls.error().message});
        if (tls && config_.ok()) {
            session_ = std::make_unique<session>(io_.get_executor(), config_.values, std::move(*tls),
                                                 logger(log_.impl(), config_.values.profile.account_id));
            session_->start();
            return;
        }
    }
    log_.error({.state = "not_configured"}, "not configured: {} problem(s); the daemon stays up and connects nothing",
               config_.problems.size());
    for (const auto& p : config_.problems)
        log_.error({.state = "not_configured"}, "configuration: {}: {}", p.variable, p.message);
}

void service::wait_for_signal() {
    signals_.async_wait([this](const boost::system::error_code& ec, int signal) {
        if (ec) return;
        log_.info({}, "received {}; stopping", signal == SIGTERM ? "SIGTERM" : "SIGINT");
        stop();
    });
}

void service::stop() {
    if (stopping_) return;
    stopping_ = true;
    auto done = [this] {
        boost::system::error_code ignored;
        signals_.cancel(ignored);
        log_.info({}, "stopped");
    };
    if (session_)
        session_->stop(done);
    else
        done();
}

}  // namespace sessiond
