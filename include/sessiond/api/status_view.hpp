#pragma once
// What the daemon says about itself: the JSON of GET /api/ibkr/status, the one-line STATUS= for
// systemd, and the readiness checks. Pure: built from the configuration, the session's snapshot and
// the clock, never by calling IBKR, never carrying a secret.
//
// The guide's three questions at a glance, in "status":
//   not_configured            settings are missing or malformed ("problems" says which)
//   configured_not_connected  settings are complete; the brokerage session is not usable right now
//   connected                 the brokerage session is authenticated and not competing

#include "sessiond/config/settings.hpp"
#include "sessiond/session/lifecycle_machine.hpp"

#include <boost/json/object.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sessiond {

// One configured IBKR user, as its session reports it.
struct user_status {
    const settings* config = nullptr;
    const session_snapshot* snapshot = nullptr;  // null while the session waits to start (a predecessor logs out)
    std::string_view user_id{};                  // multi-user mode: whose session this is
};

// The daemon block plus one entry per configured user. "Configured" is a fact of the configuration:
// a user is listed from the moment the configuration names it, whether or not its session object
// exists yet.
struct status_input {
    const config_report& config;
    std::vector<user_status> users;  // in username order; empty when not configured
    bool stopping = false;           // SIGTERM received
    wall_time started_at{};
    wall_time now{};
    // The gateway's block (gateway::status_json()); null when the daemon has no gateway.
    boost::json::value gateway = nullptr;
    // Multi-user mode: whether the database answered its last call (none in single-user mode).
    // Readiness is then the daemon's own, not every user's session (each user's is in their status),
    // and the status is the admin's: the daemon and a summary of the users' sessions by state,
    // naming those not connected, never every user's fields.
    std::optional<bool> store_reachable = std::nullopt;
};

// The single-user view: the configuration's user with this snapshot, or no user when null.
status_input single_user_status(const config_report& config, const session_snapshot* snapshot, bool stopping,
                                wall_time started_at, wall_time now);

std::string_view overall_status(const status_input& in) noexcept;
// One user's session is authenticated and usable (and the daemon is not stopping).
bool is_connected(const user_status& user, bool stopping) noexcept;

boost::json::object status_json(const status_input& in);

// "connected as DU1234567 (paper); SSO 9m59s left", "reconnecting in 7.3 s (attempt 4): tickle: HTTP
// 503 (server_error) ...", "not configured: IBKR_CLIENT_ID missing (+2 more)". One line, bounded.
std::string status_line(const status_input& in);

struct readiness_check {
    std::string name;
    bool ok = false;
    std::string detail;
};

// configured, not stopping, session authenticated, not competing; in multi-user mode not stopping
// and the database reachable.
std::vector<readiness_check> readiness_checks(const status_input& in);
bool is_ready(const std::vector<readiness_check>& checks) noexcept;

}  // namespace sessiond
