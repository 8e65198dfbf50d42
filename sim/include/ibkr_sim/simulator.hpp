#pragma once
// ibkr-sim assembled: TLS identity, model, faults, journal, the HTTPS server and the control server
// on one io_context.

#include "ibkr_sim/control_api.hpp"
#include "ibkr_sim/control_server.hpp"
#include "ibkr_sim/fault_injector.hpp"
#include "ibkr_sim/https_server.hpp"
#include "ibkr_sim/ibkr_model.hpp"
#include "ibkr_sim/request_journal.hpp"
#include "ibkr_sim/sim_config.hpp"
#include "ibkr_sim/websocket_registry.hpp"

#include "sessiond/core/error.hpp"
#include "sessiond/log/log.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace sessiond::sim {

class simulator {
public:
    // Builds every part and binds both listeners; nothing runs before start().
    static expected<std::unique_ptr<simulator>> create(asio::io_context& ioc, const sim_config& config, logger log);
    ~simulator();
    simulator(const simulator&) = delete;
    simulator& operator=(const simulator&) = delete;

    void start();
    void stop();

    [[nodiscard]] std::uint16_t https_port() const noexcept { return https_port_; }
    [[nodiscard]] std::uint16_t control_port() const noexcept { return control_port_; }
    [[nodiscard]] const std::string& ca_file() const noexcept { return ca_file_; }
    // {"ready":true,"https_port":N,"control_port":M,"ca_file":"PATH"}
    [[nodiscard]] std::string ready_line() const;

private:
    simulator(asio::io_context& ioc, asio::ssl::context tls, ibkr_model model, const sim_config& config, logger log);

    asio::ssl::context tls_;
    ibkr_model model_;
    fault_injector faults_;
    request_journal journal_;
    websocket_registry websockets_;
    https_server https_;
    control_api control_api_;
    control_server control_;
    std::uint16_t https_port_ = 0;
    std::uint16_t control_port_ = 0;
    std::string ca_file_;
    bool remove_ca_file_ = false;  // a CA written to a temporary path is removed again
};

}  // namespace sessiond::sim
