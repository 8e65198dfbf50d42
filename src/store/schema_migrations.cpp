#include "sessiond/store/schema_migrations.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <set>

namespace sessiond {

namespace {

// users.token_hash is UNIQUE: both engines let any number of rows hold NULL in a UNIQUE column, so
// it is unique where set, as the API's token lookup needs.
// audit_log.seq is the caller's sequence number (append_audit refuses a gap), not a rowid.
constexpr std::string_view schema_v1 = R"sql(
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    created_ms BIGINT NOT NULL,
    token_hash {blob} UNIQUE,
    token_created_ms BIGINT
);
CREATE TABLE credentials (
    user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    credential_id TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL,
    client_key_id TEXT NOT NULL,
    username TEXT NOT NULL,
    account_id TEXT NOT NULL,
    allowed_ip TEXT NOT NULL,
    environment TEXT NOT NULL,
    scope TEXT,
    key_fingerprint TEXT NOT NULL,
    key_record {blob} NOT NULL,
    key_version INTEGER NOT NULL,
    etag TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    last_validated_ms BIGINT
);
CREATE INDEX credentials_by_key_version ON credentials(key_version, user_id);
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    source TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    outcome TEXT NOT NULL,
    details TEXT NOT NULL,
    key_version INTEGER NOT NULL,
    mac {blob} NOT NULL
);
CREATE INDEX audit_log_by_actor ON audit_log(actor, seq);
CREATE INDEX audit_log_by_target ON audit_log(target, seq);
CREATE TABLE pacing (
    username TEXT PRIMARY KEY,
    record TEXT NOT NULL,
    updated_ms BIGINT NOT NULL
);
)sql";

// One brokerage session per IBKR username: two users' credentials for one username would log each
// other out, so the database itself refuses a second.
constexpr std::string_view schema_v2 = R"sql(
CREATE UNIQUE INDEX credentials_by_username ON credentials(username);
)sql";

// Replicas sharing one database (issue 13): each heartbeats, and each user with a credential has
// one lease, held by at most one replica until expires_ms by the database's clock. fencing grows on
// every take-over, so that a write on a user's behalf can be made conditional on it. An ordinary
// (logged) table: an unlogged one would be emptied by a crash of PostgreSQL while old holders act.
constexpr std::string_view schema_v3 = R"sql(
CREATE TABLE replicas (
    id TEXT PRIMARY KEY,
    started_ms BIGINT NOT NULL,
    heartbeat_ms BIGINT NOT NULL
);
CREATE TABLE leases (
    user_id TEXT PRIMARY KEY REFERENCES credentials(user_id) ON DELETE CASCADE,
    holder TEXT,
    expires_ms BIGINT NOT NULL,
    fencing BIGINT NOT NULL
);
CREATE INDEX leases_by_holder ON leases(holder, user_id);
)sql";

constexpr std::array migrations{
    schema_migration{1, schema_v1},
    schema_migration{2, schema_v2},
    schema_migration{3, schema_v3},
};

}  // namespace

std::span<const schema_migration> store_migrations() { return migrations; }

expected<std::int64_t> apply_migrations(sql_connection& sql, std::span<const schema_migration> known,
                                        std::int64_t applied_at_ms) {
    // Daemons that start together against one server migrate one after the other: the second
    // finds the versions the first recorded.
    if (auto serial = sql.serialize("schema_migrations", serial_lock::schema); !serial) return serial.error();
    auto table = sql.execute_script("schema_migrations",
                                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                    "version INTEGER PRIMARY KEY, applied_at_ms BIGINT NOT NULL)");
    if (!table) return table.error();
    auto rows = sql.query("schema_migrations", "SELECT version FROM schema_migrations ORDER BY version", {});
    if (!rows) return rows.error();
    std::set<std::int64_t> recorded;
    for (const auto& row : *rows)
        if (const auto* v = std::get_if<std::int64_t>(&row.at(0))) recorded.insert(*v);

    const std::int64_t newest_known = known.empty() ? 0 : known.back().version;
    if (!recorded.empty() && *recorded.rbegin() > newest_known)
        return make_error(fmt::format("the database's schema is version {}, newer than this binary's {}: a newer "
                                      "ibkr-sessiond wrote it; refusing to use it",
                                      *recorded.rbegin(), newest_known));

    std::int64_t applied = 0;
    for (const auto& m : known) {
        if (recorded.contains(m.version)) continue;
        const auto operation = fmt::format("schema migration {}", m.version);
        if (auto r = sql.execute_script(operation, engine_sql(m.sql, sql.words())); !r) return r.error();
        const std::array<sql_value, 2> stamp{m.version, applied_at_ms};
        if (auto r = sql.execute(operation, "INSERT INTO schema_migrations (version, applied_at_ms) VALUES ($1, $2)", stamp);
            !r)
            return r.error();
        ++applied;
    }
    return applied;
}

}  // namespace sessiond
