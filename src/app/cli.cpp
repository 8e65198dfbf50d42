#include "sessiond/app/cli.hpp"

namespace sessiond {

namespace {

std::optional<spdlog::level::level_enum> parse_level(std::string_view s) {
    if (s == "trace") return spdlog::level::trace;
    if (s == "debug") return spdlog::level::debug;
    if (s == "info") return spdlog::level::info;
    if (s == "warn" || s == "warning") return spdlog::level::warn;
    if (s == "error") return spdlog::level::err;
    return std::nullopt;
}

}  // namespace

expected<command_line> parse_command_line(std::span<const std::string_view> args) {
    command_line out;
    bool command_seen = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string_view a = args[i];
        auto value = [&](std::string_view flag) -> expected<std::string_view> {
            if (const auto eq = a.find('='); eq != std::string_view::npos) return a.substr(eq + 1);
            if (i + 1 >= args.size()) return make_error(std::string(flag) + " needs a value");
            return args[++i];
        };
        if (a == "--help" || a == "-h") {
            out.what = command::help;
            return out;
        }
        if (a == "--version") {
            out.what = command::version;
            return out;
        }
        if (a == "--env-file" || a.starts_with("--env-file=")) {
            auto v = value("--env-file");
            if (!v) return v.error();
            if (v->empty()) return make_error("--env-file needs a path");
            out.env_file = std::filesystem::path(*v);
            continue;
        }
        if (a == "--log-level" || a.starts_with("--log-level=")) {
            auto v = value("--log-level");
            if (!v) return v.error();
            const auto level = parse_level(*v);
            if (!level) return make_error("--log-level: \"" + std::string(*v) + "\" is not one of trace, debug, info, warn, error");
            out.log_level = *level;
            continue;
        }
        if (a == "--allow-core-dumps") {
            out.allow_core_dumps = true;
            continue;
        }
        if (a.starts_with("-")) return make_error("unknown option " + std::string(a));
        if (command_seen) return make_error("unexpected argument \"" + std::string(a) + "\" (one command at a time)");
        command_seen = true;
        if (a == "run")
            out.what = command::run;
        else if (a == "check-config")
            out.what = command::check_config;
        else if (a == "test-connection")
            out.what = command::test_connection;
        else
            return make_error("unknown command \"" + std::string(a) + "\"");
    }
    return out;
}

std::string usage_text() {
    return "Usage: ibkr-sessiond [COMMAND] [OPTIONS]\n"
           "\n"
           "Keeps an Interactive Brokers Web API session alive (OAuth 2.0, SSO, brokerage session, tickle).\n"
           "\n"
           "Commands:\n"
           "  run               keep the session alive until SIGTERM (the default)\n"
           "  check-config      check the configuration, print what is wrong; exit 0 if valid, 78 if not\n"
           "  test-connection   run OAuth, SSO, validate and init once, print each step, log out;\n"
           "                    exit 0 only if every step passed. Beside a running daemon for this\n"
           "                    IBKR username it asks the daemon (SESSIOND_API_TOKEN) and never logs in\n"
           "\n"
           "Options:\n"
           "  --env-file PATH   read settings from PATH (.env format); the real environment wins\n"
           "  --log-level LVL   trace, debug, info (default), warn or error\n"
           "  --allow-core-dumps  let the process dump core (it holds the private key: off by default)\n"
           "  --version         print the version\n"
           "  --help            print this help\n"
           "\n"
           "Exit codes: 0 ok, 1 test failed, 64 usage, 71 lock socket unavailable, 75 another process\n"
           "on this host keeps this IBKR username, 78 configuration broken.\n"
           "\n"
           "Settings are environment variables; see README.md and config/ibkr-sessiond.env.example.\n";
}

std::string version_text() { return "ibkr-sessiond " SESSIOND_VERSION "\n"; }

}  // namespace sessiond
