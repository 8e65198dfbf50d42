#include "sessiond/config/settings.hpp"

#include "sessiond/config/env_file.hpp"
#include "sessiond/config/systemd_environment.hpp"
#include "sessiond/config/user_rows.hpp"
#include "sessiond/config/variable_reader.hpp"
#include "sessiond/config/variable_schema.hpp"
#include "sessiond/config/variable_suggestions.hpp"
#include "sessiond/core/secret.hpp"
#include "sessiond/core/state_file.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

namespace sessiond {

namespace {

constexpr std::size_t min_api_token_length = 16;

// "unknown variable NAME (ignored); did you mean KNOWN?" for a name that looks like one of ours.
std::optional<std::string> unknown_variable_warning(std::string_view name) {
    if (!is_unknown_daemon_variable(name)) return std::nullopt;
    std::string text = "unknown variable " + printable(name) + " (ignored)";
    if (const auto meant = suggest_variable(name)) text += "; did you mean " + std::string(*meant) + "?";
    return text;
}

// Builds one config_report from the sources: looks variables up (environment first), checks each,
// and records every problem it meets.
class settings_loader {
public:
    explicit settings_loader(const config_sources& sources) : sources_(sources) {}

    config_report run() {
        read_env_file();
        choose_values();
        warn_about_variables();
        load_features();  // first: multi-user mode reads no user's identity from here
        if (report_.values.multi_user) {
            load_shared_user_rows(in_, host(), report_.values.options);
            for (const std::string_view name : identity_variables())
                if (in_.optional(name))
                    in_.warn(std::string(name) + " is ignored in multi-user mode (ENABLE_MULTI_USER=true): each "
                                                 "user's IBKR credentials come from PUT /api/users/{id}/ibkr-credentials");
        } else {
            load_user_rows(in_, host(), report_.values.profile, report_.values.options);
        }
        load_timing();
        check_ibkr_limits();
        load_service();
        load_gateway();
        return std::move(report_);
    }

private:
    // ---- sources ------------------------------------------------------------------------------

    void read_env_file() {
        if (!sources_.env_file) return;
        const std::filesystem::path& path = *sources_.env_file;
        auto file = read_private_file(path, max_config_file_size);
        if (!file) return in_.problem("--env-file", file.error().message);
        auto entries = parse_env_file(file->content.reveal());
        if (!entries) return in_.problem("--env-file", path.string() + ": " + entries.error().message);
        file_ = std::move(*entries);
        for (const env_entry& entry : file_.items) {
            auto [it, inserted] = file_index_.try_emplace(entry.name, &entry);
            if (inserted) continue;
            in_.warn(file_line(entry.line) + ": " + entry.name + " set again; line " +
                     std::to_string(it->second->line) + " is ignored");
            it->second = &entry;  // the later one wins, like dotenv
        }
    }

    // The environment wins over the env file.
    void choose_values() {
        for (const auto& [name, value] : sources_.environment) {
            values_.values.emplace(name, value);
            if (is_secret_variable(name)) values_.secret_values.emplace_back(value);
        }
        for (const auto& [name, entry] : file_index_) values_.values.try_emplace(name, entry->value);
        for (const env_entry& entry : file_.items)
            if (is_secret_variable(entry.name)) values_.secret_values.emplace_back(entry.value);
    }

    void warn_about_variables() {
        for (const env_entry& entry : file_.items) {
            if (auto w = unknown_variable_warning(entry.name)) in_.warn(file_line(entry.line) + ": " + *w);
        }
        for (const auto& [name, value] : sources_.environment) {
            if (auto w = unknown_variable_warning(name)) in_.warn("environment: " + *w);
            // Compose files often pass "${VAR}" through empty: say why the env file line had no effect.
            const auto in_file = file_index_.find(name);
            if (value.empty() && in_file != file_index_.end() && !in_file->second->value.empty() &&
                find_variable(name) != nullptr)
                in_.warn("environment: " + name + " is set but empty and overrides " + file_line(in_file->second->line));
        }
    }

    std::string file_line(int line) const { return sources_.env_file->string() + " line " + std::to_string(line); }

    user_host host() const {
        user_host out{sources_.credentials_directory, std::nullopt};
        // TZDIR, as glibc reads it, else the system's database.
        if (auto it = sources_.environment.find("TZDIR"); it != sources_.environment.end() && !it->second.empty())
            out.tzdir = std::filesystem::path(it->second);
        return out;
    }

    // ---- timing -------------------------------------------------------------------------------

    void load_timing() {
        session_options& o = report_.values.options;
        // Every plain number of the schema, in the schema's order; the two with rules of their own
        // follow. Not a list of names: SESSIOND_DAEMON_LOGIN_INTERVAL and SESSIOND_METRICS_USER_SERIES
        // were once in the schema (and the README) but missing from such a list, so never read.
        for (const variable_row& row : variable_schema())
            if ((row.seconds != nullptr || row.count != nullptr) && row.name != "IBKR_TICKLE_INTERVAL" &&
                row.name != "SESSIOND_BACKOFF_MAX")
                in_.load_number(row, o);

        // IBKR_PACE_TICKLE is at most 60 s, so only a configured interval can fall below it.
        const value_bounds tickle = schema_row("IBKR_TICKLE_INTERVAL").bounds;
        if (const auto v = in_.seconds("IBKR_TICKLE_INTERVAL")) {
            if (*v > tickle.max)
                in_.problem("IBKR_TICKLE_INTERVAL", "must be at most " + format_seconds(tickle.max) +
                                                        " s: the brokerage session lapses after about 5 minutes "
                                                        "without a tickle");
            else if (*v < o.pace_tickle.count())
                in_.problem("IBKR_TICKLE_INTERVAL", "must be at least IBKR_PACE_TICKLE (" +
                                                        format_seconds(o.pace_tickle.count()) +
                                                        " s): IBKR allows one tickle per second");
            else if (!tickle.contains(*v))  // only reachable with IBKR_PACE_TICKLE=0: never tickle in a tight loop
                in_.problem("IBKR_TICKLE_INTERVAL", tickle.seconds_message());
            else o.tickle_interval = seconds_f(*v);
        }

        // Bounds set by another variable use its effective value (the default when it is unset or
        // invalid). SESSIOND_BACKOFF_INITIAL may exceed the default maximum: then the default conflicts.
        const double max_backoff = schema_row("SESSIOND_BACKOFF_MAX").bounds.max;
        const bool max_set = in_.optional("SESSIOND_BACKOFF_MAX").has_value();
        if (const auto v = max_set ? in_.seconds("SESSIOND_BACKOFF_MAX") : o.backoff_max.count()) {
            if (*v > max_backoff)
                in_.problem("SESSIOND_BACKOFF_MAX", "must be at most " + format_seconds(max_backoff) + " seconds");
            else if (*v < o.backoff_initial.count())
                in_.problem("SESSIOND_BACKOFF_MAX",
                            "must be at least SESSIOND_BACKOFF_INITIAL (" + format_seconds(o.backoff_initial.count()) +
                                " s)" + (max_set ? "" : "; it is not set and defaults to " + format_seconds(*v) + " s"));
            else o.backoff_max = seconds_f(*v);
        }
    }

    // ---- IBKR's limits ------------------------------------------------------------------------

    // Pacing looser than IBKR's limits earns the penalty box (or, for the login budget, puts the
    // account at risk): only SESSIOND_SIMULATOR_LIMITS=true allows it, whatever the base URL.
    void check_ibkr_limits() {
        const bool allowed = in_.boolean("SESSIOND_SIMULATOR_LIMITS", true).value_or(false);
        report_.values.simulator_limits = allowed;
        const std::vector<limit_breach> breaches = limits_looser_than_ibkr(report_.values.options);
        if (!allowed) {
            for (const limit_breach& b : breaches)
                in_.problem(b.variable,
                            b.value + " is looser than " + std::string(b.limit) +
                                "; SESSIOND_SIMULATOR_LIMITS=true allows it, for ibkr-sim only",
                            true);
            return;
        }
        std::string in_force;
        for (const limit_breach& b : breaches)
            in_force += (in_force.empty() ? " (" : ", ") + std::string(b.variable) + "=" + b.value;
        if (!in_force.empty()) in_force += ")";
        in_.warn("SESSIOND_SIMULATOR_LIMITS=true: simulator limits are in force" + in_force +
                 ": pacing looser than IBKR's documented limits is allowed; for ibkr-sim only, never against IBKR");
    }

    // ---- features -----------------------------------------------------------------------------

    void load_features() {
        settings& s = report_.values;
        if (const auto v = in_.optional("BROKER_PROVIDER")) {
            if (equals_ignoring_case(*v, "ibkr")) s.broker_provider = "ibkr";
            else in_.problem("BROKER_PROVIDER", in_.shown("BROKER_PROVIDER", *v) + " is not supported; only ibkr");
        }
        if (const auto b = in_.boolean("ENABLE_MULTI_USER")) s.multi_user = *b;
        if (const auto v = in_.optional("SESSIOND_MASTER_KEY_FILE")) {
            if (v->empty() || v->front() != '/')
                in_.problem("SESSIOND_MASTER_KEY_FILE",
                            in_.shown("SESSIOND_MASTER_KEY_FILE", *v) + " is not an absolute path");
            else s.master_key_file = std::filesystem::path(*v);
        }
    }

    // ---- the daemon's own API -----------------------------------------------------------------

    // The daemon cannot even serve its status API: it refuses to start.
    void service_problem(std::string_view variable, std::string message) {
        in_.problem(variable, std::move(message), true);
    }

    // An optional path that must be absolute: relative to what would depend on how the daemon was started.
    std::optional<std::filesystem::path> absolute_path(std::string_view variable) {
        const auto v = in_.optional(variable);
        if (!v) return std::nullopt;
        if (v->front() != '/') {
            in_.problem(variable, in_.shown(variable, *v) + " is not an absolute path");
            return std::nullopt;
        }
        return std::filesystem::path(*v);
    }

    // SESSIOND_DATABASE: a SQLite file (an absolute path) or a PostgreSQL server (libpq's connection
    // string, checked here as libpq reads it; connecting is the daemon's business).
    void load_database() {
        service_options& svc = report_.values.service;
        const auto v = in_.optional("SESSIOND_DATABASE");
        if (!v || !names_a_database_server(*v)) {
            svc.database = absolute_path("SESSIOND_DATABASE");
            return;
        }
        std::string text(*v);
        char* reason = nullptr;
        PQconninfoOption* parsed = PQconninfoParse(text.c_str(), &reason);
        if (parsed == nullptr) {
            // libpq's reason can quote the part it could not read, a password included.
            std::string why = reason != nullptr ? reason : "";
            if (const auto nl = why.find('\n'); nl != std::string::npos) why.resize(nl);
            const bool may_quote = text.find("password") == std::string::npos && !why.empty();
            in_.problem("SESSIOND_DATABASE",
                        "is not a PostgreSQL connection string libpq can read" +
                            (may_quote ? ": " + why : std::string(" (libpq's reason is not shown: it may quote the password)")));
            if (reason != nullptr) PQfreemem(reason);
        } else {
            PQconninfoFree(parsed);
            svc.database_server = secret(text);
        }
        wipe(text);
    }

    // SESSIOND_REPLICA_ID and SESSIOND_LEASE_TTL: only with multi-user mode on PostgreSQL, where
    // several daemons can share the users.
    void load_replica() {
        service_options& svc = report_.values.service;
        if (const auto v = in_.optional("SESSIOND_REPLICA_ID")) {
            const bool ok = !v->empty() && v->size() <= 64 && std::all_of(v->begin(), v->end(), [](char c) {
                return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.';
            });
            if (!ok)
                service_problem("SESSIOND_REPLICA_ID", in_.shown("SESSIOND_REPLICA_ID", *v) +
                                                           " is not a replica name: 1 to 64 letters, digits, '-', '_' or '.'");
            else if (!report_.values.multi_user || svc.database_server.empty())
                service_problem("SESSIOND_REPLICA_ID",
                                "replicas share a PostgreSQL database in multi-user mode: set ENABLE_MULTI_USER=true "
                                "and SESSIOND_DATABASE to a PostgreSQL connection string, or unset SESSIOND_REPLICA_ID");
            else svc.replica_id = std::string(*v);
        }
        const value_bounds ttl = schema_row("SESSIOND_LEASE_TTL").bounds;
        if (const auto v = in_.seconds("SESSIOND_LEASE_TTL")) {
            if (!ttl.contains(*v)) service_problem("SESSIOND_LEASE_TTL", ttl.seconds_message());
            else svc.lease_ttl = std::chrono::milliseconds(static_cast<std::int64_t>(*v * 1000));
        }
    }

    void load_service() {
        service_options& svc = report_.values.service;
        svc.state_dirs = resolve_state_directory(absolute_path("SESSIOND_STATE_DIR"), sources_.environment);
        load_database();
        load_replica();
        if (const auto v = in_.optional("SESSIOND_MODE")) {
            if (*v == "development" || *v == "production") svc.development = *v == "development";
            else service_problem("SESSIOND_MODE", in_.shown("SESSIOND_MODE", *v) + " is not production or development");
        }
        if (const auto v = in_.optional("SESSIOND_LISTEN")) {
            if (auto a = parse_listen_address(*v)) svc.listen = std::move(*a);
            else service_problem("SESSIOND_LISTEN", in_.shown("SESSIOND_LISTEN", *v) + " " + a.error().message);
        }

        if (auto token = read_token("SESSIOND_API_TOKEN", api_token_credential)) {
            svc.api_token = std::move(token->value);
            svc.api_token_source = std::move(token->source);
        }
        if (!svc.api_token && !is_loopback(svc.listen))
            service_problem("SESSIOND_LISTEN", to_string(svc.listen) +
                                                   " is reachable from other hosts but no API token is set; set "
                                                   "SESSIOND_API_TOKEN (or the credential sessiond-api-token), or "
                                                   "listen on 127.0.0.1");
        if (report_.values.multi_user && !svc.api_token)
            service_problem("SESSIOND_API_TOKEN", "multi-user mode (ENABLE_MULTI_USER=true) needs the admin token that "
                                                  "adds and removes users: set SESSIOND_API_TOKEN (or the credential "
                                                  "sessiond-api-token)");
    }

    // ---- the gateway --------------------------------------------------------------------------

    void load_gateway() {
        gateway_options& gw = report_.values.gateway;
        if (const auto on = in_.boolean("SESSIOND_GATEWAY", true)) gw.enabled = *on;
        if (auto token = read_token("SESSIOND_GATEWAY_TOKEN", gateway_token_credential)) {
            gw.token = std::move(token->value);
            gw.token_source = std::move(token->source);
            if (report_.values.multi_user)
                in_.warn("SESSIOND_GATEWAY_TOKEN is ignored in multi-user mode: each user's API token reaches "
                         "that user's session through the gateway");
        }
        const value_bounds wait = schema_row("SESSIOND_GATEWAY_MAX_WAIT").bounds;
        if (const auto v = in_.seconds("SESSIOND_GATEWAY_MAX_WAIT")) {
            if (!wait.contains(*v))
                in_.problem("SESSIOND_GATEWAY_MAX_WAIT",
                            wait.seconds_message() + ": a client's usual timeout is 10 s, and a request held "
                                                     "past it may be sent again by the client",
                            true);
            else gw.max_wait = std::chrono::milliseconds(static_cast<std::int64_t>(*v * 1000));
        }
        if (const auto v = in_.optional("SESSIOND_GATEWAY_HTTPS_LISTEN")) {
            if (auto a = parse_listen_address(*v)) gw.https_listen = std::move(*a);
            else service_problem("SESSIOND_GATEWAY_HTTPS_LISTEN", in_.shown("SESSIOND_GATEWAY_HTTPS_LISTEN", *v) +
                                                                      " " + a.error().message);
        }
        for (const std::string_view name : {"SESSIOND_GATEWAY_TLS_CERT", "SESSIOND_GATEWAY_TLS_KEY"}) {
            const auto v = in_.optional(name);
            if (!v) continue;
            if (v->front() != '/') {
                service_problem(name, in_.shown(name, *v) + " is not an absolute path");
                continue;
            }
            (name.ends_with("CERT") ? gw.tls_cert : gw.tls_key) = std::filesystem::path(*v);
        }
        if (gw.tls_cert.has_value() != gw.tls_key.has_value())
            service_problem(gw.tls_cert ? "SESSIOND_GATEWAY_TLS_KEY" : "SESSIOND_GATEWAY_TLS_CERT",
                            "missing: SESSIOND_GATEWAY_TLS_CERT and SESSIOND_GATEWAY_TLS_KEY go together");
        // In multi-user mode every gateway request must bear a user's API token (its own session's):
        // there the gateway token has no part, and listening beyond loopback needs none.
        if (!gw.enabled || gw.token || report_.values.multi_user) return;
        // The gateway can place orders: beyond loopback, only with a token.
        const auto beyond_loopback = [&](std::string_view variable, const listen_address& where) {
            if (is_loopback(where)) return;
            service_problem(variable, to_string(where) +
                                          " is reachable from other hosts and the gateway can place orders, but no "
                                          "gateway token is set; set SESSIOND_GATEWAY_TOKEN (or the credential "
                                          "sessiond-gateway-token), listen on loopback, or set SESSIOND_GATEWAY=off");
        };
        beyond_loopback("SESSIOND_LISTEN", report_.values.service.listen);
        if (gw.https_listen) beyond_loopback("SESSIOND_GATEWAY_HTTPS_LISTEN", *gw.https_listen);
    }

    // ---- tokens -------------------------------------------------------------------------------

    struct token {
        secret value;
        std::string source;
    };

    // A bearer token from `variable` or the systemd credential `credential` (never both): at least 16
    // characters without blanks. A problem blocks the start: the API or the gateway could not be guarded.
    std::optional<token> read_token(std::string_view variable, std::string_view credential_name) {
        const auto from_env = in_.optional(variable);
        const auto credential = find_credential(sources_.credentials_directory, credential_name);
        if (from_env && credential) {
            service_problem(variable, "set in more than one place (" + std::string(variable) + " and systemd credential " +
                                          std::string(credential_name) + "); keep exactly one");
            return std::nullopt;
        }
        if (from_env) return checked_token(variable, *from_env, std::string(variable));
        if (!credential) return std::nullopt;
        const auto file = read_private_file(*credential, max_config_file_size);
        if (!file) {
            service_problem(variable, file.error().message);
            return std::nullopt;
        }
        std::string_view text = file->content.reveal();
        while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
        return checked_token(variable, text, "systemd credential " + std::string(credential_name));
    }

    std::optional<token> checked_token(std::string_view variable, std::string_view text, std::string source) {
        if (has_space_or_control(text)) {
            service_problem(variable, "must not contain spaces or control characters");
            return std::nullopt;
        }
        if (text.size() < min_api_token_length) {
            service_problem(variable, "is too short (" + std::to_string(text.size()) +
                                          " characters); use at least 16 random characters, e.g. openssl rand -hex 32");
            return std::nullopt;
        }
        return token{secret(text), std::move(source)};
    }

    const config_sources& sources_;
    env_entries file_;
    std::map<std::string_view, const env_entry*, std::less<>> file_index_;  // name -> the entry that wins
    configured_values values_;
    config_report report_;
    variable_reader in_{values_, report_.problems, report_.warnings};
};

}  // namespace

config_report load_settings(const config_sources& sources) { return settings_loader(sources).run(); }

void use_state_directory(config_report& report) {
    service_options& svc = report.values.service;
    const state_dir_choice choice = choose_state_directory(svc.state_dirs);
    std::string tried;
    for (const std::string& f : choice.failures) tried += (tried.empty() ? "" : "; ") + f;
    if (choice.chosen) {
        svc.state_dir = choice.chosen->path;
        svc.state_dir_rule = choice.chosen->rule;
        svc.state_dir_unavailable.clear();
        if (!tried.empty())
            report.warnings.push_back("state directory: using " + choice.chosen->path.string() + " (" +
                                      choice.chosen->rule + ") because " + tried);
        return;
    }
    svc.state_dir.reset();
    svc.state_dir_rule.clear();
    svc.state_dir_unavailable = "no usable state directory (" + tried + ")";
}

bool names_a_database_server(std::string_view value) noexcept {
    if (value.starts_with("postgresql://") || value.starts_with("postgres://")) return true;
    // key=value pairs: the first key is a word (host, dbname, service ...).
    const auto eq = value.find('=');
    if (eq == std::string_view::npos || eq == 0) return false;
    const std::string_view key = value.substr(0, eq);
    return std::all_of(key.begin(), key.end(), [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; });
}

std::string describe_database_server(const secret& conninfo) {
    std::string text(conninfo.reveal());
    PQconninfoOption* options = PQconninfoParse(text.c_str(), nullptr);
    wipe(text);
    if (options == nullptr) return "(a connection string libpq cannot read)";
    // Only these four are read; the password is never looked at.
    std::array<std::pair<std::string_view, std::string>, 4> parts{
        {{"user", "?"}, {"host", "?"}, {"port", "?"}, {"dbname", "?"}}};
    for (const PQconninfoOption* o = options; o->keyword != nullptr; ++o)
        for (auto& [key, value] : parts)
            if (o->keyword == key && o->val != nullptr && *o->val != '\0') value = o->val;
    PQconninfoFree(options);
    return parts[0].second + "@" + parts[1].second + ":" + parts[2].second + "/" + parts[3].second;
}

expected<std::filesystem::path> database_file(const service_options& svc) {
    if (svc.database) return *svc.database;
    if (svc.state_dir) return *svc.state_dir / default_database_name;
    std::string why = svc.state_dir_unavailable.empty() ? "no state directory is in use" : svc.state_dir_unavailable;
    return make_error("no database file: set SESSIOND_DATABASE to the absolute path of the SQLite file (" + why +
                      ", where it would be " + std::string(default_database_name) + " by default)");
}

bool config_report::can_start() const noexcept {
    return std::none_of(problems.begin(), problems.end(), [](const config_problem& p) { return p.blocks_start; });
}

config_sources::~config_sources() {
    for (auto& [name, value] : environment) wipe(value);
}

}  // namespace sessiond
