// ibkr-sessiond: parses the command line, builds the components, runs the event loop.

#include "sessiond/app/cli.hpp"
#include "sessiond/app/daemon_test_client.hpp"
#include "sessiond/app/hardening.hpp"
#include "sessiond/app/service.hpp"
#include "sessiond/app/vault_commands.hpp"
#include "sessiond/config/settings.hpp"
#include "sessiond/config/systemd_environment.hpp"
#include "sessiond/crypto/openssl_memory.hpp"
#include "sessiond/host/username_lock.hpp"
#include "sessiond/log/log.hpp"
#include "sessiond/net/tls.hpp"
#include "sessiond/session/standalone_test.hpp"
#include "sessiond/systemd/journal.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdio>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

using namespace sessiond;

int check_config(const command_line& cli) {
    config_report report = load_settings(sources_from_process(cli.env_file));
    use_state_directory(report);
    std::cout << format_config_report(report);
    return report.ok() ? exit_ok : exit_config;
}

int test_connection(const command_line& cli, const logger& log) {
    config_report report = load_settings(sources_from_process(cli.env_file));
    use_state_directory(report);  // the same pacing record as a daemon with these settings
    if (!report.ok()) {
        std::cout << format_config_report(report);
        return exit_config;
    }
    auto tls = make_client_tls_context(report.values.options.ca_file);
    if (!tls) {
        std::cout << "IBKR_CA_FILE: " << tls.error().message << "\n";
        return exit_config;
    }
    boost::asio::io_context io;
    // A daemon keeps this username: ask it, never log in beside it. Otherwise hold the lock while
    // testing, so that a daemon started meanwhile refuses instead of fighting this login.
    const settings& config = report.values;
    auto lock = username_lock::acquire(io.get_executor(),
                                       username_lock_name(config.profile.credential, config.options.endpoint),
                                       lock_holder{::getpid(), {}, SESSIOND_VERSION, "test-connection"});
    if (const auto* held = std::get_if<username_lock::held_elsewhere>(&lock)) {
        const delegated_test asked = ask_daemon_to_test(held->holder, config);
        std::cout << asked.output;
        return asked.exit_code;
    }
    if (const auto* failed = std::get_if<error>(&lock)) {
        std::cout << "cannot test: the host-wide lock for this IBKR username: " << failed->message
                  << "; test-connection does not log in without it (a daemon may keep this username)\n";
        return exit_oserr;
    }
    std::optional<username_lock> held(std::move(std::get<username_lock>(lock)));
    // Alone with the username: a one-shot of the daemon's own session, within its pacing record.
    connection_test_report result;
    run_standalone_test(io.get_executor(), config, std::move(*tls), log, [&](connection_test_report r) {
        held.reset();  // logged out: the username is free again (and io runs dry)
        result = std::move(r);
    });
    log.info({}, "testing the connection to {}", config.options.endpoint.text);
    io.run();
    if (!result.not_now.empty()) {
        std::cout << "not testing now: " << result.not_now << "; run test-connection again then\n";
        return exit_tempfail;
    }
    std::cout << format_test_report(result);
    return result.passed() ? exit_ok : exit_failure;
}

int run(const command_line& cli, const logger& log) {
    boost::asio::io_context io(1);
    // Variables systemd's EnvironmentFile= copied from the env file follow the file on reload.
    const std::set<std::string> from_file = environment_copied_from_env_file(sources_from_process(cli.env_file));
    auto load = [env_file = cli.env_file, from_file] {
        config_sources sources = sources_from_process(env_file);
        forget_environment(sources, from_file);
        config_report report = load_settings(sources);
        use_state_directory(report);
        return report;
    };
    service daemon(io, std::move(load), log);
    if (!daemon.start()) return daemon.start_failure_exit_code();
    io.run();
    return exit_ok;
}

// Before every other constructor: Boost.Asio's SSL initialisation, a static object, allocates
// through OpenSSL, and OpenSSL takes new memory functions only before its first allocation.
__attribute__((constructor(101))) void wipe_what_openssl_frees() { (void)wipe_openssl_memory_when_freed(); }

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string_view> args(argv + 1, argv + argc);
    const auto cli = parse_command_line(args);
    if (!cli) {
        std::cerr << "ibkr-sessiond: " << cli.error().message << "\n\n" << usage_text();
        return exit_usage;
    }
    if (!cli->allow_core_dumps) {
        if (auto refused = refuse_core_dumps(); !refused) {
            std::cerr << "ibkr-sessiond: " << refused.error().message << "\n";
            return exit_failure;
        }
    }
    if (!openssl_memory_is_wiped())
        std::cerr << "ibkr-sessiond: warning: OpenSSL's memory is not wiped when freed (its memory functions "
                     "were set after its first allocation)\n";
    switch (cli->what) {
        case command::help: std::cout << usage_text(); return exit_ok;
        case command::version: std::cout << version_text(); return exit_ok;
        case command::check_config: return check_config(*cli);
        case command::keys_status:
        case command::keys_rewrap:
        case command::audit_verify:
            return run_vault_command(*cli, load_settings(sources_from_process(cli->env_file)),
                                     keyring_environment_from_process(), std::cout, std::cerr);
        default: break;
    }
    // SESSIOND_MODE=development: debug unless --log-level says otherwise.
    spdlog::level::level_enum level = cli->log_level;
    if (!cli->log_level_given && load_settings(sources_from_process(cli->env_file)).values.service.development)
        level = spdlog::level::debug;
    // Native journal entries (with IBKR_STATE=... fields) when stderr is the journal, else lines.
    const logger log(cli->what == command::run ? make_daemon_logger("ibkr-sessiond", level)
                                               : make_stderr_logger("ibkr-sessiond", level),
                     {});
    if (cli->what == command::test_connection) return test_connection(*cli, log);
    return run(*cli, log);
}
