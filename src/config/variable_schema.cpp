#include "sessiond/config/variable_schema.hpp"

#include <algorithm>
#include <cstdlib>

namespace sessiond {

namespace {

using enum variable_scope;
using enum value_parser;

// IBKR's documented limits and the production login budget: the protocol reference, section 5.
constexpr ibkr_limit one_tickle_per_second{1, false, "IBKR's limit of one tickle per second (1 s)"};
constexpr ibkr_limit one_validate_per_minute{60, false, "IBKR's limit of one validate per minute (60 s)"};
// The CP Gateway's (older) documented global limit; the newer documentation's 50 is not relied on.
constexpr ibkr_limit ten_requests_per_second{10, true, "IBKR's documented global limit of 10 requests per second"};
constexpr ibkr_limit login_spacing{10, false, "the login budget's 10 s between logins, which protects the IBKR account"};
constexpr ibkr_limit logins_per_hour{30, true, "the login budget's 30 logins an hour, which protects the IBKR account"};
// IBKR's penalty box after a 429 lasts 10 to 15 minutes.
constexpr ibkr_limit penalty_box{600, false, "IBKR's penalty box after a 429, 10 to 15 minutes (600 s at least)"};

// The bounds of the numbers, whatever the simulator switch says.
constexpr double max_tickle_interval = 290;  // the brokerage session lapses after about 5 minutes
constexpr double max_backoff = 86400;
constexpr double max_logins_per_hour = 1000;
// IBKR's newer documentation allows 50 requests a second per username, the older 10 (the default).
constexpr double max_requests_per_second = 50;

// The user rows are the identity of one IBKR user, the endpoint their sessions talk to, and their
// region's maintenance calendar; IBKR's pacing and the daemon's own API are the same for every user.
// The order is the README's, and it is also the order in which limit breaches are reported.
constexpr variable_row schema[] = {
    {.name = "IBKR_CLIENT_ID", .scope = user, .parser = identifier, .default_value = "required",
     .doc = "OAuth client id"},
    {.name = "IBKR_CLIENT_KEY_ID", .scope = user, .parser = identifier, .default_value = "required",
     .doc = "kid of the signing key"},
    {.name = "IBKR_PRIVATE_KEY", .scope = user, .secret = true, .parser = private_key, .default_value = "one of three",
     .doc = "RSA private key PEM (PKCS#1 or PKCS#8, at least 2048 bits, unencrypted)"},
    {.name = "IBKR_PRIVATE_KEY_FILE", .scope = user, .parser = private_key, .default_value = "one of three",
     .doc = "path to that PEM"},
    {.name = "IBKR_CREDENTIAL", .scope = user, .secret = true, .parser = identifier, .default_value = "required",
     .doc = "IBKR username (the paper username for paper)"},
    {.name = "IBKR_ACCOUNT_ID", .scope = user, .parser = account_id, .default_value = "required",
     .doc = "account that must be listed by /iserver/accounts"},
    {.name = "IBKR_ALLOWED_IP", .scope = user, .parser = ip_address, .default_value = "required",
     .doc = "the ip claim: this server's whitelisted public IP"},
    {.name = "IBKR_ENV", .scope = user, .parser = paper_or_live, .default_value = "required",
     .doc = "paper or live"},
    {.name = "IBKR_SCOPE", .scope = user, .parser = identifier, .default_value = "sso-sessions.write",
     .doc = "OAuth scope"},
    {.name = "IBKR_BASE_URL", .scope = user, .parser = https_url, .default_value = "https://api.ibkr.com",
     .doc = "https, host and port only"},
    {.name = "BROKER_PROVIDER", .parser = provider, .default_value = "ibkr", .doc = "only ibkr"},
    {.name = "ENABLE_MULTI_USER", .parser = boolean, .default_value = "false",
     .doc = "true: many IBKR users, added over the API (README, Multi-user mode)"},
    {.name = "SESSIOND_MASTER_KEY_FILE", .parser = file_path, .default_value = "",
     .doc = "multi-user mode: the master key file (32 bytes, mode 0400), or a directory of versions; the "
            "systemd credential sessiond-master-key comes first"},
    {.name = "IBKR_CA_FILE", .scope = user, .parser = file_path, .default_value = "",
     .doc = "extra PEM trust anchors (the system store is always used)"},
    {.name = "IBKR_TICKLE_INTERVAL", .parser = seconds, .bounds = {0, true, max_tickle_interval},
     .seconds = &session_options::tickle_interval, .default_value = "60",
     .doc = "seconds between tickles, fractions allowed, at least IBKR_PACE_TICKLE"},
    {.name = "IBKR_INIT_SETTLE", .parser = seconds, .bounds = {0, false, 60}, .seconds = &session_options::init_settle,
     .default_value = "3", .doc = "seconds between init and /iserver/accounts"},
    {.name = "IBKR_HTTP_TIMEOUT", .parser = seconds, .bounds = {0, true, 120}, .seconds = &session_options::http_timeout,
     .default_value = "10", .doc = "seconds per IBKR request, resolve to last byte"},
    {.name = "IBKR_COMPETE", .scope = user, .parser = boolean, .default_value = "true",
     .doc = "take over a competing brokerage session"},
    {.name = "SESSIOND_BACKOFF_INITIAL", .parser = seconds, .bounds = {0, true, 3600},
     .seconds = &session_options::backoff_initial, .default_value = "2", .doc = "seconds"},
    {.name = "SESSIOND_BACKOFF_MAX", .parser = seconds, .bounds = {0, true, max_backoff},
     .seconds = &session_options::backoff_max, .default_value = "300",
     .doc = "seconds, at least SESSIOND_BACKOFF_INITIAL"},
    {.name = "IBKR_PACE_TICKLE", .parser = seconds, .bounds = {0, false, 60}, .seconds = &session_options::pace_tickle,
     .limit = one_tickle_per_second, .default_value = "1", .doc = "minimum seconds between tickles"},
    {.name = "IBKR_PACE_VALIDATE", .parser = seconds, .bounds = {0, false, 3600},
     .seconds = &session_options::pace_validate, .limit = one_validate_per_minute, .default_value = "60",
     .doc = "minimum seconds between validates"},
    {.name = "SESSIOND_LISTEN", .parser = host_and_port, .default_value = "127.0.0.1:4257",
     .doc = "the daemon's HTTP API: HOST:PORT or [IPv6]:PORT; port 0 picks a free one"},
    {.name = "SESSIOND_API_TOKEN", .secret = true, .parser = identifier, .default_value = "",
     .doc = "bearer token for POST /api/ibkr/test (at least 16 characters)"},
    {.name = "IBKR_MAX_REQUESTS_PER_SECOND", .parser = count, .bounds = {0, false, max_requests_per_second},
     .count = &session_options::max_requests_per_second, .limit = ten_requests_per_second, .default_value = "10",
     .doc = "all calls together, in any second; 0: no global limit (ibkr-sim only, e.g. to benchmark the gateway)"},
    {.name = "SESSIOND_LOGIN_MIN_INTERVAL", .parser = seconds, .bounds = {0, false, 3600},
     .seconds = &session_options::login_min_interval, .limit = login_spacing, .default_value = "10",
     .doc = "seconds between two full logins at least"},
    {.name = "SESSIOND_LOGINS_PER_HOUR", .parser = count, .bounds = {1, false, max_logins_per_hour},
     .count = &session_options::logins_per_hour, .limit = logins_per_hour, .default_value = "30",
     .doc = "full logins in any 60 minutes at most"},
    {.name = "SESSIOND_DAEMON_LOGIN_INTERVAL", .parser = seconds, .bounds = {0, false, 60},
     .seconds = &session_options::daemon_login_interval, .default_value = "0.5",
     .doc = "seconds between any two logins of the daemon, all users together: 1,000 users start "
            "within 500 s"},
    {.name = "SESSIOND_METRICS_USER_SERIES", .parser = count, .bounds = {0, false, 100000},
     .count = &session_options::metrics_user_series, .default_value = "100",
     .doc = "/metrics has per-user series while there are at most this many users (sessions by state always)"},
    {.name = "SESSIOND_RATE_LIMIT_PENALTY", .parser = seconds, .bounds = {0, true, 86400},
     .seconds = &session_options::rate_limit_penalty, .limit = penalty_box, .default_value = "900",
     .doc = "seconds without any call after a 429 that has no Retry-After"},
    {.name = "SESSIOND_MODE", .parser = identifier, .default_value = "production",
     .doc = "production: API errors are a stable code and one line; development: they carry IBKR's own text and "
            "the failing call, the log level defaults to debug and the pages show a banner"},
    {.name = "SESSIOND_SIMULATOR_LIMITS", .parser = boolean, .default_value = "false",
     .doc = "allows pacing looser than IBKR's documented limits; for ibkr-sim only, never against IBKR"},
    {.name = "SESSIOND_STATE_DIR", .parser = file_path, .default_value = "see text",
     .doc = "absolute path where the pacing record survives restarts"},
    {.name = "SESSIOND_DATABASE", .parser = file_path, .default_value = "see text",
     .doc = "multi-user mode's database: the absolute path of a SQLite file (unset: sessiond.sqlite3 in the state "
            "directory), or a PostgreSQL server as libpq's connection string (postgresql://... or host=... dbname=...)"},
    {.name = "SESSIOND_REPLICA_ID", .parser = identifier, .default_value = "",
     .doc = "several daemons share a PostgreSQL database and split the users: this one's name (letters, digits, "
            "'-', '_', '.'; unique among them); unset: the only daemon on its database"},
    {.name = "SESSIOND_LEASE_TTL", .parser = seconds, .bounds = {5, false, 600}, .default_value = "30",
     .doc = "seconds a replica's claim on a user lasts unrenewed; renewed every sixth of it; a crashed "
            "replica's users move within it plus a sixth, plus one login"},
    {.name = "SESSIOND_GATEWAY", .parser = boolean, .default_value = "on",
     .doc = "on: trading applications call IBKR's Web API through the daemon (/v1/api/...); off: no gateway"},
    {.name = "SESSIOND_GATEWAY_TOKEN", .secret = true, .parser = identifier, .default_value = "",
     .doc = "bearer token every gateway request must carry (at least 16 characters); required beyond loopback"},
    {.name = "SESSIOND_GATEWAY_MAX_WAIT", .parser = seconds, .bounds = {0, false, 9}, .default_value = "7",
     .doc = "seconds a gateway request may wait for IBKR's limits or the session before a local 429 or 503"},
    {.name = "SESSIOND_GATEWAY_HTTPS_LISTEN", .parser = host_and_port, .default_value = "",
     .doc = "a second, HTTPS listener for the gateway (e.g. 127.0.0.1:5000); unset: none"},
    {.name = "SESSIOND_GATEWAY_TLS_CERT", .parser = file_path, .default_value = "",
     .doc = "PEM certificate chain of the HTTPS listener; unset: generated once, kept in the state directory"},
    {.name = "SESSIOND_GATEWAY_TLS_KEY", .parser = file_path, .default_value = "",
     .doc = "PEM private key of that certificate (with SESSIOND_GATEWAY_TLS_CERT)"},
    {.name = "IBKR_REGION", .scope = user, .parser = region, .default_value = "new_york",
     .doc = "new_york, zug, hong_kong or none: where IBKR's maintenance windows are"},
    {.name = "IBKR_RESET_TIME", .scope = user, .parser = time_of_day, .default_value = "01:00",
     .doc = "local time of IBKR's daily reset in that region, HH:MM or HH:MM:SS"},
};

}  // namespace

std::string value_bounds::seconds_message() const {
    if (min_exclusive)
        return "must be more than " + format_seconds(min) + " and at most " + format_seconds(max) + " seconds";
    return "must be between " + format_seconds(min) + " and " + format_seconds(max) + " seconds";
}

std::span<const variable_row> variable_schema() noexcept { return schema; }

const variable_row* find_variable(std::string_view name) noexcept {
    const auto it = std::ranges::find(schema, name, &variable_row::name);
    return it == std::end(schema) ? nullptr : &*it;
}

const variable_row& schema_row(std::string_view name) noexcept {
    const variable_row* row = find_variable(name);
    if (row == nullptr) std::abort();  // the loader asked for a name the schema lacks
    return *row;
}

bool is_secret_variable(std::string_view name) noexcept {
    const variable_row* row = find_variable(name);
    return row != nullptr && row->secret;
}

std::span<const std::string_view> known_variables() {
    static const std::vector<std::string_view> names = [] {
        std::vector<std::string_view> out;
        for (const variable_row& row : schema) out.push_back(row.name);
        return out;
    }();
    return names;
}

std::vector<limit_breach> limits_looser_than_ibkr(const session_options& o) {
    std::vector<limit_breach> out;
    for (const variable_row& row : schema) {
        if (row.limit.text.empty()) continue;
        const double value = row.seconds != nullptr ? (o.*row.seconds).count() : o.*row.count;
        // A maximum of 0 is no limit at all (IBKR_MAX_REQUESTS_PER_SECOND=0): the loosest there is.
        if (row.limit.is_maximum ? (value <= row.limit.value && value > 0) : value >= row.limit.value) continue;
        out.push_back({row.name,
                       row.seconds != nullptr ? format_seconds(value) + " s" : std::to_string(o.*row.count),
                       row.limit.text});
    }
    return out;
}

}  // namespace sessiond
