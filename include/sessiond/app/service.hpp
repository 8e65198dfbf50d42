#pragma once
// The running daemon: its configuration, its session(s) and the signals that stop it. It stays up
// when the configuration is incomplete (state not_configured, naming every problem) so that the
// status surface can say why nothing is connected.

#include "sessiond/config/settings.hpp"
#include "sessiond/log/log.hpp"
#include "sessiond/session/session.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <memory>

namespace sessiond {

class service {
public:
    service(boost::asio::io_context& io, config_report config, logger log);

    // Installs the signal handlers and starts the session when the configuration is complete.
    void start();
    // Stops the session (logging out of IBKR) and the signal handlers: io_context::run() returns.
    void stop();

    [[nodiscard]] const config_report& config() const noexcept { return config_; }
    [[nodiscard]] const session* current_session() const noexcept { return session_.get(); }
    [[nodiscard]] lifecycle state() const noexcept;

private:
    void wait_for_signal();

    boost::asio::io_context& io_;
    boost::asio::signal_set signals_;
    config_report config_;
    logger log_;
    std::unique_ptr<session> session_;
    bool stopping_ = false;
};

}  // namespace sessiond
