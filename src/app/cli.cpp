#include "sessiond/app/cli.hpp"

#include <algorithm>

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

// The commands of two words: the first word, and what each second word means.
struct subcommand {
    std::string_view name;
    command what;
};
struct command_group {
    std::string_view name;
    std::span<const subcommand> subcommands;
    std::string_view choices;  // for the error: "status or rewrap"
};
constexpr subcommand keys_commands[] = {{"status", command::keys_status}, {"rewrap", command::keys_rewrap}};
constexpr subcommand audit_commands[] = {{"verify", command::audit_verify}};
constexpr command_group command_groups[] = {
    {"keys", keys_commands, "status or rewrap"},
    {"audit", audit_commands, "verify"},
};

}  // namespace

expected<command_line> parse_command_line(std::span<const std::string_view> args) {
    command_line out;
    bool command_seen = false;
    const command_group* group = nullptr;  // its second word still to come
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
            out.log_level_given = true;
            continue;
        }
        if (a == "--allow-core-dumps") {
            out.allow_core_dumps = true;
            continue;
        }
        if (a == "--allow-unverifiable") {
            out.allow_unverifiable = true;
            continue;
        }
        if (a.starts_with("-")) return make_error("unknown option " + std::string(a));
        if (group != nullptr) {
            const auto sub = std::ranges::find(group->subcommands, a, &subcommand::name);
            if (sub == group->subcommands.end())
                return make_error("unknown " + std::string(group->name) + " command \"" + std::string(a) + "\" (" +
                                  std::string(group->choices) + ")");
            out.what = sub->what;
            group = nullptr;
            continue;
        }
        if (command_seen) return make_error("unexpected argument \"" + std::string(a) + "\" (one command at a time)");
        command_seen = true;
        if (a == "run")
            out.what = command::run;
        else if (a == "check-config")
            out.what = command::check_config;
        else if (a == "test-connection")
            out.what = command::test_connection;
        else if (const auto g = std::ranges::find(command_groups, a, &command_group::name); g != std::end(command_groups))
            group = &*g;
        else
            return make_error("unknown command \"" + std::string(a) + "\"");
    }
    if (group != nullptr)
        return make_error(std::string(group->name) + " needs a command: " + std::string(group->name) + " " +
                          std::string(group->choices));
    if (out.allow_unverifiable && out.what != command::audit_verify)
        return make_error("--allow-unverifiable goes with audit verify only");
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
           "  keys status       multi-user mode: how many credentials each master key version seals,\n"
           "                    and which versions can be retired\n"
           "  keys rewrap       wrap every credential under an older master key version under the\n"
           "                    current one, beside the running daemon; exit 1 if a record does not open\n"
           "  audit verify      check the audit log's chain; exit 0 if intact, 1 naming the first bad\n"
           "                    entry, or entries that cannot be verified (their key version not loaded)\n"
           "\n"
           "Options:\n"
           "  --env-file PATH   read settings from PATH (.env format); the real environment wins\n"
           "  --log-level LVL   trace, debug, info (default; debug with SESSIOND_MODE=development), warn or error\n"
           "  --allow-core-dumps  let the process dump core (it holds the private key: off by default)\n"
           "  --allow-unverifiable  audit verify: accept entries under a retired master key version\n"
           "                    (reported, not verified) instead of failing\n"
           "  --version         print the version\n"
           "  --help            print this help\n"
           "\n"
           "Exit codes: 0 ok, 1 test or verification failed, 64 usage, 71 lock socket unavailable,\n"
           "75 another process on this host keeps this IBKR username, 78 configuration broken (for keys\n"
           "and audit also: no master key, no database file).\n"
           "\n"
           "Settings are environment variables; see README.md and config/ibkr-sessiond.env.example.\n";
}

std::string version_text() { return "ibkr-sessiond " SESSIOND_VERSION "\n"; }

}  // namespace sessiond
