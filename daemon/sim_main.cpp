// ibkr-sim: parse the command line, build the simulator, run it until SIGTERM or SIGINT.

#include "ibkr_sim/sim_config.hpp"
#include "ibkr_sim/simulator.hpp"

#include "sessiond/log/log.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <string_view>
#include <vector>

namespace {

constexpr int exit_usage = 64;    // EX_USAGE
constexpr int exit_failure = 1;

}  // namespace

int main(int argc, char** argv) {
    namespace sim = sessiond::sim;
    const std::vector<std::string_view> args(argv + 1, argv + argc);
    auto command = sim::parse_command_line(args);
    if (!command) {
        std::cerr << "ibkr-sim: " << command.error().message << "\n";
        return exit_usage;
    }
    if (command->help) {
        std::cout << sim::usage_text();
        return 0;
    }
    std::signal(SIGPIPE, SIG_IGN);

    sessiond::logger log(sessiond::make_stderr_logger("ibkr-sim", command->config.server.log_level), "");
    boost::asio::io_context ioc(1);
    auto simulator = sim::simulator::create(ioc, command->config, log);
    if (!simulator) {
        log.error({}, "cannot start: {}", simulator.error().message);
        return exit_failure;
    }
    boost::asio::signal_set signals(ioc, SIGTERM, SIGINT);
    signals.async_wait([&](const boost::system::error_code& ec, int signal) {
        if (ec) return;
        log.info({}, "signal {}: stopping", signal);
        (*simulator)->stop();
    });
    (*simulator)->start();
    std::cout << (*simulator)->ready_line() << std::endl;  // endl: the line must reach the pipe now
    log.info({}, "listening: https {}:{} control {}:{} ca {}", command->config.server.https.host, (*simulator)->https_port(), command->config.server.control.host,
             (*simulator)->control_port(), (*simulator)->ca_file());
    ioc.run();
    log.info({}, "stopped");
    return 0;
}
