#pragma once
// Every setting of the daemon, where it comes from, and the check that names what is wrong.
//
// Sources, strongest first: the process environment, then the env file (`--env-file`). The private
// key comes from exactly one of IBKR_PRIVATE_KEY, IBKR_PRIVATE_KEY_FILE or the systemd credential
// `ibkr-private-key` in $CREDENTIALS_DIRECTORY. Which variables exist, and their bounds, is the
// schema's (variable_schema.hpp); the per-user rows are read by load_user_rows (user_rows.hpp).
//
// Loading never throws and never stops at the first problem: it fills what it can and lists every
// missing or malformed variable, so that the daemon can sit in `not_configured` and say exactly why.

#include "sessiond/config/state_directory.hpp"
#include "sessiond/core/error.hpp"
#include "sessiond/core/secret.hpp"
#include "sessiond/core/values.hpp"
#include "sessiond/ibkr/profile.hpp"

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sessiond {

// Key files, CA bundles, credentials and env files are small; a bigger "file" is a mistake such as /dev/zero.
inline constexpr std::size_t max_config_file_size = 4 * 1024 * 1024;

struct config_problem {
    std::string variable;  // e.g. "IBKR_CLIENT_ID"
    std::string message;   // e.g. "missing", or "\"abc\" is not a number of seconds (e.g. 60 or 0.5)"
    // Refuse to start (exit 78) and refuse a reload: the daemon cannot even serve its status API
    // (SESSIOND_LISTEN, SESSIOND_API_TOKEN), or a limit is looser than IBKR's without
    // SESSIOND_SIMULATOR_LIMITS=true. Other problems leave it up in not_configured.
    bool blocks_start = false;
};

// The daemon's own HTTP API: where it listens and the token that state-changing calls must bear.
struct service_options {
    listen_address listen{"127.0.0.1", 4257};  // SESSIOND_LISTEN
    std::optional<secret> api_token;           // SESSIOND_API_TOKEN or systemd credential sessiond-api-token
    std::string api_token_source;
    // Where the pacing record (login budget, last validate) may survive restarts, in order of
    // preference (state_directory.hpp). load_settings() fills it without touching the filesystem.
    state_dir_resolution state_dirs;
    // The directory in use, chosen and created by use_state_directory(); unset: the record lives in
    // memory only, and state_dir_unavailable says what was tried and why each failed.
    std::optional<std::filesystem::path> state_dir;
    std::string state_dir_rule;  // which rule chose it, e.g. "default: $HOME/.local/state"
    std::string state_dir_unavailable;
    // SESSIOND_DATABASE: multi-user mode's SQLite file; unset: database_file() takes the default.
    std::optional<std::filesystem::path> database;
    // SESSIOND_DATABASE as a PostgreSQL server instead: libpq's connection string (a postgresql://
    // URI, or key=value pairs). It may hold a password, so it is a secret, never shown.
    secret database_server;
    // SESSIOND_REPLICA_ID: this daemon is one of several sharing the PostgreSQL database, under this
    // name; each user's session is held by one replica at a time (replica/). Empty: the only daemon.
    std::string replica_id;
    // SESSIOND_LEASE_TTL: how long a replica's claim on a user lasts without renewal.
    std::chrono::milliseconds lease_ttl{30'000};
    // SESSIOND_MODE=development: API errors carry IBKR's own text and the call that failed, the log
    // defaults to debug, the pages show a banner. production (the default): a stable error code and
    // one line, everything else in the log only.
    bool development = false;
};

// Whether a SESSIOND_DATABASE value names a PostgreSQL server rather than a SQLite file: a
// postgresql:// or postgres:// URI, or libpq's key=value form (a file path never starts with a key).
[[nodiscard]] bool names_a_database_server(std::string_view value) noexcept;
// "user@host:port/database" from a connection string libpq can read, never its password; "?" for
// what the string leaves to the PG* variables and libpq's defaults.
[[nodiscard]] std::string describe_database_server(const secret& conninfo);

// The name of multi-user mode's SQLite file in the state directory, when SESSIOND_DATABASE is unset.
inline constexpr std::string_view default_database_name = "sessiond.sqlite3";

// The SQLite file multi-user mode uses: SESSIOND_DATABASE, else default_database_name in the state
// directory in use (after use_state_directory()). An error says what to set when there is neither.
// Pure: looks at no file. Not called when SESSIOND_DATABASE names a server (database_server).
expected<std::filesystem::path> database_file(const service_options& svc);

// The gateway: trading applications call IBKR's Web API (/v1/api/...) through the daemon's session,
// on SESSIOND_LISTEN and, optionally, on a second, HTTPS listener.
struct gateway_options {
    bool enabled = true;                           // SESSIOND_GATEWAY
    // SESSIOND_GATEWAY_TOKEN or the systemd credential sessiond-gateway-token: every gateway request
    // then needs "Authorization: Bearer <token>" (or, for a WebSocket, a cookie). Without one only
    // loopback clients are served, and the daemon refuses to listen beyond loopback.
    std::optional<secret> token;
    std::string token_source;
    std::chrono::milliseconds max_wait{7'000};      // SESSIOND_GATEWAY_MAX_WAIT
    std::optional<listen_address> https_listen;    // SESSIOND_GATEWAY_HTTPS_LISTEN
    std::optional<std::filesystem::path> tls_cert;  // SESSIOND_GATEWAY_TLS_CERT
    std::optional<std::filesystem::path> tls_key;   // SESSIOND_GATEWAY_TLS_KEY
};

struct settings {
    ibkr_profile profile;
    session_options options;
    service_options service;
    gateway_options gateway;
    std::string broker_provider = "ibkr";
    bool multi_user = false;                                // ENABLE_MULTI_USER
    std::optional<std::filesystem::path> master_key_file;  // SESSIOND_MASTER_KEY_FILE
    // SESSIOND_SIMULATOR_LIMITS: allows pacing looser than IBKR's documented limits; for ibkr-sim
    // only, never against IBKR.
    bool simulator_limits = false;
};

struct config_report {
    settings values;                       // filled as far as the input allowed
    std::vector<config_problem> problems;  // empty when the daemon can run
    std::vector<std::string> warnings;     // e.g. unknown IBKR_* variable in the env file (likely a typo)
    [[nodiscard]] bool ok() const noexcept { return problems.empty(); }
    [[nodiscard]] bool can_start() const noexcept;
};

// The variables a loader sees: the process environment and, optionally, an env file.
struct config_sources {
    std::map<std::string, std::string> environment;          // the real environment (wins)
    std::optional<std::filesystem::path> env_file;           // --env-file PATH
    std::optional<std::filesystem::path> credentials_directory;  // $CREDENTIALS_DIRECTORY

    ~config_sources();  // wipes the copied values: IBKR_PRIVATE_KEY may be among them
};

// Reads and checks every variable. Touches no directory: see use_state_directory().
config_report load_settings(const config_sources& sources);

// Chooses the first usable directory of report.values.service.state_dirs, creating it when missing
// (mode 0700), and fills state_dir and state_dir_rule, or state_dir_unavailable when none can be
// used. What the daemon and check-config call after load_settings().
void use_state_directory(config_report& report);

// What `ibkr-sessiond check-config` prints: the loaded identity when ok, otherwise every problem;
// then the warnings. One item per line, each line ends with '\n'. Never contains a secret.
std::string format_config_report(const config_report& report);

}  // namespace sessiond
