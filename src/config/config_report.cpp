#include "sessiond/config/settings.hpp"

#include <fmt/format.h>

namespace sessiond {

namespace {

std::string describe_key(const ibkr_profile& profile) {
    if (!profile.private_key) return "none";
    const rsa_private_key& key = *profile.private_key;
    return "RSA " + std::to_string(key.bits()) + " bits, " + std::string(key.format()) + ", from " +
           profile.private_key_source + ", SHA-256 fingerprint " + key.fingerprint();
}

std::string describe_calendar(const session_options& o) {
    if (!o.calendar) return "none (every failure is an ordinary failure)";
    const ibkr_calendar& c = *o.calendar;
    const auto minutes = std::chrono::duration_cast<std::chrono::minutes>(c.reset_time()).count();
    return fmt::format("IBKR_REGION={}: daily reset {:02}:{:02} {}, weekly maintenance Saturday {:02}:00 to Sunday {:02}:00",
                       to_string(c.region()), minutes / 60, minutes % 60, c.zone().name(),
                       ibkr_calendar::weekly_start.count(), ibkr_calendar::weekly_end.count());
}

// "state directory /root/.local/state/ibkr-sessiond (default: $HOME/.local/state)".
std::string describe_state_directory(const service_options& svc) {
    if (svc.state_dir) return "state directory " + svc.state_dir->string() + " (" + svc.state_dir_rule + ")";
    if (!svc.state_dir_unavailable.empty()) return "state directory: none, the pacing record lives in memory";
    if (!svc.state_dirs.candidates.empty())
        return "state directory " + svc.state_dirs.candidates.front().path.string() + " (" +
               svc.state_dirs.candidates.front().rule + ")";
    return "state directory: none";
}

// "on at http://127.0.0.1:4257/v1/api/ and https://127.0.0.1:5000/v1/api/ (generated certificate), loopback
// clients, waits at most 7 s", or "off (SESSIOND_GATEWAY=off)".
std::string describe_gateway(const settings& s) {
    const gateway_options& gw = s.gateway;
    if (!gw.enabled) return "off (SESSIOND_GATEWAY=off)";
    std::string out = "on at http://" + to_string(s.service.listen) + "/v1/api/";
    if (gw.https_listen)
        out += " and https://" + to_string(*gw.https_listen) + "/v1/api/ (" +
               (gw.tls_cert ? "certificate " + gw.tls_cert->string() : std::string("generated certificate")) + ")";
    // As the daemon says when it starts (service::log_gateway): in multi-user mode the user's token
    // selects the session, and neither the gateway token nor loopback is enough.
    out += s.multi_user ? ", clients bearing their user's API token"
           : gw.token   ? ", clients bearing the gateway token (from " + gw.token_source + ")"
                        : ", loopback clients only";
    out += ", a call waits at most " + format_seconds(static_cast<double>(gw.max_wait.count()) / 1000.0) + " s";
    return out;
}

// Multi-user mode's database as check-config names it, before anything is opened: "the SQLite file
// /var/lib/ibkr-sessiond/sessiond.sqlite3 (default, in the state directory)", or "PostgreSQL
// sessiond@db.internal:5432/sessiond (SESSIOND_DATABASE)" without a password.
std::string describe_database(const service_options& svc) {
    if (!svc.database_server.empty())
        return "PostgreSQL " + describe_database_server(svc.database_server) + " (SESSIOND_DATABASE)";
    constexpr std::string_view by_default = " (default, in the state directory)";
    if (auto file = database_file(svc))
        return "the SQLite file " + file->string() + (svc.database ? " (SESSIOND_DATABASE)" : std::string(by_default));
    // check-config chooses no state directory (it creates none): the first candidate is where it would be.
    if (!svc.state_dirs.candidates.empty())
        return "the SQLite file " + (svc.state_dirs.candidates.front().path / default_database_name).string() +
               std::string(by_default);
    return "none: set SESSIOND_DATABASE (there is no state directory to hold the default)";
}

std::string describe_master_key(const settings& s) {
    if (s.master_key_file) return s.master_key_file->string() + " (SESSIOND_MASTER_KEY_FILE)";
    return "the systemd credential sessiond-master-key (read at start; without it the daemon exits 78)";
}

}  // namespace

// Built only from checked values, problem texts and warnings, none of which ever holds a secret.
std::string format_config_report(const config_report& report) {
    std::string out;
    if (report.ok()) {
        const settings& s = report.values;
        out += "configuration OK\n";
        if (s.multi_user) {
            // Each user's environment, account and key come from the database, not from here.
            out += "  mode: multi-user (ENABLE_MULTI_USER=true): each user's IBKR credentials are in the database\n";
            out += "  database: " + describe_database(s.service) + "\n";
            out += "  master key: " + describe_master_key(s) + "\n";
            if (!s.service.replica_id.empty())
                out += fmt::format("  replica: {} of the daemons sharing the database (SESSIOND_REPLICA_ID); each user's "
                                   "lease lasts {} s (SESSIOND_LEASE_TTL), renewed every {:.1f} s\n",
                                   s.service.replica_id, s.service.lease_ttl.count() / 1000.0,
                                   s.service.lease_ttl.count() / 6000.0);
        } else {
            out += "  environment: " +
                   std::string(s.profile.environment ? to_string(*s.profile.environment) : "not set") + "\n";
            out += "  account: " + s.profile.account_id + "\n";
        }
        out += "  base URL: " + s.options.endpoint.text + "\n";
        if (!s.multi_user) out += "  private key: " + describe_key(s.profile) + "\n";
        out += "  maintenance windows: " + describe_calendar(s.options) + "\n";
        out += "  API: http://" + to_string(s.service.listen) + ", " +
               (s.service.api_token ? "POST /api/ibkr/test enabled (token from " + s.service.api_token_source + ")"
                                    : std::string("no API token: POST /api/ibkr/test answers 403")) +
               "\n";
        out += "  gateway: " + describe_gateway(s) + "\n";
        out += "  " + describe_state_directory(s.service) + "\n";
    } else {
        out += "configuration has " + std::to_string(report.problems.size()) + " problem(s):\n";
        for (const config_problem& p : report.problems) out += "  " + p.variable + ": " + p.message + "\n";
    }
    for (const std::string& w : report.warnings) out += "warning: " + w + "\n";
    if (const service_options& svc = report.values.service; !svc.state_dir && !svc.state_dir_unavailable.empty())
        out += "warning: " + svc.state_dir_unavailable +
               ": the login budget and IBKR's validate pace would live in memory, and a restart within a minute "
               "would earn a 429\n";
    return out;
}

}  // namespace sessiond
