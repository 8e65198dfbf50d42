#pragma once
// One IBKR user as the daemon keeps them: who they are (ibkr_profile) and how their sessions talk to
// IBKR and pace themselves (session_options). Filled by the configuration (config/settings.hpp), from
// the environment today and from a database row in multi-user mode.

#include "sessiond/core/values.hpp"
#include "sessiond/crypto/rsa_key.hpp"
#include "sessiond/ibkr/ibkr_calendar.hpp"

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace sessiond {

enum class ibkr_environment { paper, live };
std::string_view to_string(ibkr_environment e) noexcept;

// One IBKR user's identity: everything multi-user mode will keep per user.
struct ibkr_profile {
    std::string client_id;
    std::string client_key_id;
    std::optional<rsa_private_key> private_key;
    std::string private_key_source;  // "IBKR_PRIVATE_KEY", "IBKR_PRIVATE_KEY_FILE (/path)", "systemd credential ibkr-private-key"
    std::string credential;          // IBKR username (not a secret, but never echoed in errors)
    std::string account_id;
    std::string allowed_ip;
    std::string scope = "sso-sessions.write";
    std::optional<ibkr_environment> environment;
};

// How one session talks to IBKR and paces itself. Defaults are production values; the configuration
// schema (config/variable_schema.cpp) names the variable of each field and its bounds.
struct session_options {
    base_url endpoint{"https://api.ibkr.com", "api.ibkr.com", 443};
    std::optional<std::filesystem::path> ca_file;      // IBKR_CA_FILE, on top of the system store
    seconds_f tickle_interval{60.0};                   // IBKR_TICKLE_INTERVAL
    seconds_f init_settle{3.0};                        // IBKR_INIT_SETTLE
    seconds_f http_timeout{10.0};                      // IBKR_HTTP_TIMEOUT
    bool compete = true;                               // IBKR_COMPETE
    seconds_f backoff_initial{2.0};                    // SESSIOND_BACKOFF_INITIAL
    seconds_f backoff_max{300.0};                      // SESSIOND_BACKOFF_MAX
    seconds_f pace_tickle{1.0};                        // IBKR_PACE_TICKLE: IBKR allows one tickle per second
    seconds_f pace_validate{60.0};                     // IBKR_PACE_VALIDATE: IBKR allows one validate per minute
    int max_requests_per_second = 10;                  // IBKR_MAX_REQUESTS_PER_SECOND: IBKR's global limit per username
    seconds_f rate_limit_penalty{900.0};               // SESSIOND_RATE_LIMIT_PENALTY: after a 429 without Retry-After
    seconds_f login_min_interval{10.0};                // SESSIOND_LOGIN_MIN_INTERVAL: between two full logins
    int logins_per_hour = 30;                          // SESSIOND_LOGINS_PER_HOUR: in any 60 minutes
    seconds_f daemon_login_interval{0.5};              // SESSIOND_DAEMON_LOGIN_INTERVAL: any two users' logins
    int metrics_user_series = 100;                     // SESSIOND_METRICS_USER_SERIES: per-user series up to this many users
    // IBKR_REGION (new_york, zug, hong_kong or none) and IBKR_RESET_TIME (local, default 01:00): when
    // IBKR's maintenance windows are. Null with IBKR_REGION=none, or when the time zone cannot be read
    // (a warning says so): then every failure is an ordinary one.
    std::shared_ptr<const ibkr_calendar> calendar;
};

}  // namespace sessiond
