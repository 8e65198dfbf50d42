#pragma once
// The command line of ibkr-sessiond. Pure, so every accepted and refused form is unit-tested.

#include "sessiond/core/error.hpp"

#include <spdlog/common.h>

#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace sessiond {

// sysexits.h values: what systemd and shell scripts expect from a daemon.
inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;
inline constexpr int exit_usage = 64;   // EX_USAGE
inline constexpr int exit_oserr = 71;   // EX_OSERR: the host-wide username lock cannot be made at all
// EX_TEMPFAIL: another process on this host keeps this IBKR username (the daemon refuses to start;
// test-connection could not get the running daemon's verdict, or its own login would break the
// username's pacing record). Try again later.
inline constexpr int exit_tempfail = 75;
inline constexpr int exit_config = 78;  // EX_CONFIG

enum class command {
    run,
    check_config,
    test_connection,
    keys_status,   // keys status: which master key versions seal how many credentials
    keys_rewrap,   // keys rewrap: every credential under an older version wrapped under the current one
    audit_verify,  // audit verify: the audit log's chain
    version,
    help,
};

struct command_line {
    command what = command::run;
    std::optional<std::filesystem::path> env_file;
    spdlog::level::level_enum log_level = spdlog::level::info;
    bool log_level_given = false;  // --log-level; without it, SESSIOND_MODE=development means debug
    // The process holds the private key: it refuses core dumps (and ptrace by other users) unless
    // told otherwise, for debugging.
    bool allow_core_dumps = false;
    // audit verify: entries MAC'd under a master key version that is not loaded (retired) cannot be
    // verified; they fail the verification unless this is set.
    bool allow_unverifiable = false;
};

// args excludes the program name. Errors name the offending argument.
expected<command_line> parse_command_line(std::span<const std::string_view> args);

std::string usage_text();
std::string version_text();

}  // namespace sessiond
