#include "sql_store_tx.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <limits>

namespace sessiond {

namespace {

sql_value text(std::string_view s) { return std::string(s); }

template <class T>
sql_value nullable(const std::optional<T>& v) {
    if (v) return *v;
    return nullptr;
}

sql_value page_size(std::size_t limit) {
    return static_cast<std::int64_t>(std::min<std::size_t>(limit, std::numeric_limits<std::int64_t>::max()));
}

// Reads a result row column by column. A column of another type than the schema says (a file
// edited by hand: SQLite does not enforce column types) makes the whole row an error, never a guess.
class row_reader {
public:
    row_reader(const sql_row& row, std::string_view operation) : row_(row), operation_(operation) {}

    template <class T>
    T take() {
        if (auto v = take_optional<T>()) return std::move(*v);
        bad_ = true;
        return T{};
    }

    template <class T>
    std::optional<T> take_optional() {
        if (next_ >= row_.size()) {
            bad_ = true;
            return std::nullopt;
        }
        const auto& v = row_[next_++];
        if (std::holds_alternative<std::nullptr_t>(v)) return std::nullopt;
        if (const auto* t = std::get_if<T>(&v)) return *t;
        bad_ = true;
        return std::nullopt;
    }

    // Names the column's position, never its value.
    [[nodiscard]] expected<void> finish() const {
        if (bad_ || next_ != row_.size())
            return make_error(fmt::format("{}: a stored row does not have the schema's column types", operation_));
        return {};
    }

private:
    const sql_row& row_;
    std::string_view operation_;
    std::size_t next_ = 0;
    bool bad_ = false;
};

constexpr std::string_view user_columns = "id, created_ms, token_hash, token_created_ms";

expected<user_row> read_user(const sql_row& row, std::string_view operation) {
    row_reader r(row, operation);
    user_row u;
    u.id = r.take<std::string>();
    u.created_ms = r.take<std::int64_t>();
    u.token_hash = r.take_optional<byte_string>();
    u.token_created_ms = r.take_optional<std::int64_t>();
    if (auto ok = r.finish(); !ok) return ok.error();
    return u;
}

constexpr std::string_view credential_columns =
    "user_id, credential_id, client_id, client_key_id, username, account_id, allowed_ip, environment, scope, "
    "key_fingerprint, key_record, key_version, etag, created_ms, updated_ms, last_validated_ms";

// A row of one text column.
expected<std::string> read_text(const sql_row& row, std::string_view operation) {
    row_reader r(row, operation);
    auto value = r.take<std::string>();
    if (auto ok = r.finish(); !ok) return ok.error();
    return value;
}

expected<credential_row> read_credential(const sql_row& row, std::string_view operation) {
    row_reader r(row, operation);
    credential_row c;
    c.user_id = r.take<std::string>();
    c.credential_id = r.take<std::string>();
    c.client_id = r.take<std::string>();
    c.client_key_id = r.take<std::string>();
    c.username = r.take<std::string>();
    c.account_id = r.take<std::string>();
    c.allowed_ip = r.take<std::string>();
    c.environment = r.take<std::string>();
    c.scope = r.take_optional<std::string>();
    c.key_fingerprint = r.take<std::string>();
    c.key_record = r.take<byte_string>();
    c.key_version = r.take<std::int64_t>();
    c.etag = r.take<std::string>();
    c.created_ms = r.take<std::int64_t>();
    c.updated_ms = r.take<std::int64_t>();
    c.last_validated_ms = r.take_optional<std::int64_t>();
    if (auto ok = r.finish(); !ok) return ok.error();
    return c;
}

constexpr std::string_view audit_columns =
    "seq, at_ms, actor, source, action, target, outcome, details, key_version, mac";

expected<audit_row> read_audit(const sql_row& row, std::string_view operation) {
    row_reader r(row, operation);
    audit_row a;
    a.seq = r.take<std::int64_t>();
    a.at_ms = r.take<std::int64_t>();
    a.actor = r.take<std::string>();
    a.source = r.take<std::string>();
    a.action = r.take<std::string>();
    a.target = r.take<std::string>();
    a.outcome = r.take<std::string>();
    a.details = r.take<std::string>();
    a.key_version = r.take<std::int64_t>();
    a.mac = r.take<byte_string>();
    if (auto ok = r.finish(); !ok) return ok.error();
    return a;
}

template <class Row, class Read>
expected<std::vector<Row>> read_all(const expected<std::vector<sql_row>>& rows, std::string_view operation, Read read) {
    if (!rows) return rows.error();
    std::vector<Row> out;
    out.reserve(rows->size());
    for (const auto& row : *rows) {
        auto r = read(row, operation);
        if (!r) return r.error();
        out.push_back(std::move(*r));
    }
    return out;
}

template <class Row, class Read>
expected<std::optional<Row>> read_one(const expected<std::vector<sql_row>>& rows, std::string_view operation, Read read) {
    auto all = read_all<Row>(rows, operation, read);
    if (!all) return all.error();
    if (all->empty()) return std::optional<Row>();
    return std::optional<Row>(std::move(all->front()));
}

}  // namespace

// --- users

expected<void> sql_store_tx::insert_user(const user_row& user) {
    const std::array<sql_value, 4> p{text(user.id), user.created_ms, nullable(user.token_hash), nullable(user.token_created_ms)};
    auto r = sql_.execute("insert_user", fmt::format("INSERT INTO users ({}) VALUES ($1, $2, $3, $4)", user_columns), p);
    if (!r) return r.error();
    return {};
}

expected<std::optional<user_row>> sql_store_tx::find_user(std::string_view id) {
    const std::array<sql_value, 1> p{text(id)};
    const auto rows = sql_.query("find_user", fmt::format("SELECT {} FROM users WHERE id = $1", user_columns), p);
    return read_one<user_row>(rows, "find_user", read_user);
}

expected<std::optional<user_row>> sql_store_tx::find_user_by_token_hash(const byte_string& hash) {
    const std::array<sql_value, 1> p{hash};
    const auto rows =
        sql_.query("find_user_by_token_hash", fmt::format("SELECT {} FROM users WHERE token_hash = $1", user_columns), p);
    return read_one<user_row>(rows, "find_user_by_token_hash", read_user);
}

expected<bool> sql_store_tx::set_token_hash(std::string_view id, const std::optional<byte_string>& hash,
                                            std::int64_t at_ms) {
    const std::array<sql_value, 3> p{text(id), nullable(hash), hash ? sql_value(at_ms) : sql_value(nullptr)};
    auto r = sql_.execute("set_token_hash", "UPDATE users SET token_hash = $2, token_created_ms = $3 WHERE id = $1", p);
    if (!r) return r.error();
    return *r > 0;
}

expected<bool> sql_store_tx::delete_user(std::string_view id) {
    const std::array<sql_value, 1> p{text(id)};
    auto r = sql_.execute("delete_user", "DELETE FROM users WHERE id = $1", p);
    if (!r) return r.error();
    return *r > 0;
}

expected<std::vector<user_row>> sql_store_tx::list_users(std::string_view after_id, std::size_t limit) {
    const std::array<sql_value, 2> p{text(after_id), page_size(limit)};
    const auto rows = sql_.query(
        "list_users", fmt::format("SELECT {} FROM users WHERE id > $1 ORDER BY id LIMIT $2", user_columns), p);
    return read_all<user_row>(rows, "list_users", read_user);
}

// --- credentials

expected<std::optional<credential_row>> sql_store_tx::find_credential(std::string_view user_id) {
    const std::array<sql_value, 1> p{text(user_id)};
    const auto rows = sql_.query(
        "find_credential", fmt::format("SELECT {} FROM credentials WHERE user_id = $1", credential_columns), p);
    return read_one<credential_row>(rows, "find_credential", read_credential);
}

expected<std::optional<std::string>> sql_store_tx::credential_owner(std::string_view username) {
    const std::array<sql_value, 1> p{text(username)};
    const auto rows = sql_.query("credential_owner", "SELECT user_id FROM credentials WHERE username = $1", p);
    return read_one<std::string>(rows, "credential_owner", read_text);
}

expected<void> sql_store_tx::put_credential(const credential_row& c) {
    const std::array<sql_value, 16> p{
        text(c.user_id),   text(c.credential_id), text(c.client_id),    text(c.client_key_id),
        text(c.username),  text(c.account_id),    text(c.allowed_ip),   text(c.environment),
        nullable(c.scope), text(c.key_fingerprint), c.key_record,       c.key_version,
        text(c.etag),      c.created_ms,          c.updated_ms,         nullable(c.last_validated_ms)};
    // ON CONFLICT ... DO UPDATE: the same in SQLite (3.24+) and PostgreSQL (9.5+); unlike SQLite's
    // INSERT OR REPLACE it updates the row in place instead of deleting it (which would cascade).
    static const std::string sql = fmt::format(
        "INSERT INTO credentials ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) "
        "ON CONFLICT (user_id) DO UPDATE SET credential_id = excluded.credential_id, client_id = excluded.client_id, "
        "client_key_id = excluded.client_key_id, username = excluded.username, account_id = excluded.account_id, "
        "allowed_ip = excluded.allowed_ip, environment = excluded.environment, scope = excluded.scope, "
        "key_fingerprint = excluded.key_fingerprint, key_record = excluded.key_record, "
        "key_version = excluded.key_version, etag = excluded.etag, created_ms = excluded.created_ms, "
        "updated_ms = excluded.updated_ms, last_validated_ms = excluded.last_validated_ms",
        credential_columns);
    auto r = sql_.execute("put_credential", sql, p);
    if (!r) return r.error();
    return {};
}

expected<bool> sql_store_tx::delete_credential(std::string_view user_id) {
    const std::array<sql_value, 1> p{text(user_id)};
    auto r = sql_.execute("delete_credential", "DELETE FROM credentials WHERE user_id = $1", p);
    if (!r) return r.error();
    return *r > 0;
}

expected<std::vector<key_version_count>> sql_store_tx::list_key_versions() {
    const auto rows = sql_.query(
        "list_key_versions", "SELECT key_version, COUNT(*) FROM credentials GROUP BY key_version ORDER BY key_version", {});
    return read_all<key_version_count>(rows, "list_key_versions",
                                       [](const sql_row& row, std::string_view operation) -> expected<key_version_count> {
                                           row_reader r(row, operation);
                                           key_version_count k;
                                           k.key_version = r.take<std::int64_t>();
                                           k.credentials = r.take<std::int64_t>();
                                           if (auto ok = r.finish(); !ok) return ok.error();
                                           return k;
                                       });
}

expected<std::vector<credential_row>> sql_store_tx::credentials_with_key_version(std::int64_t key_version,
                                                                                 std::string_view after_user_id,
                                                                                 std::size_t limit) {
    const std::array<sql_value, 3> p{key_version, text(after_user_id), page_size(limit)};
    const auto rows = sql_.query(
        "credentials_with_key_version",
        fmt::format("SELECT {} FROM credentials WHERE key_version = $1 AND user_id > $2 ORDER BY user_id LIMIT $3",
                    credential_columns),
        p);
    return read_all<credential_row>(rows, "credentials_with_key_version", read_credential);
}

expected<bool> sql_store_tx::update_key_record(std::string_view user_id, std::string_view expected_etag,
                                               const byte_string& record, std::int64_t key_version) {
    const std::array<sql_value, 4> p{text(user_id), text(expected_etag), record, key_version};
    auto r = sql_.execute("update_key_record",
                          "UPDATE credentials SET key_record = $3, key_version = $4 WHERE user_id = $1 AND etag = $2", p);
    if (!r) return r.error();
    return *r > 0;
}

// --- audit log

expected<std::optional<audit_head>> sql_store_tx::last_audit() {
    // The head read here is what the caller chains its entry to: no other writer may append
    // between this read and that append (the end of the transaction).
    if (auto serial = sql_.serialize("last_audit", serial_lock::audit_chain); !serial) return serial.error();
    const auto rows = sql_.query("last_audit", "SELECT seq, mac FROM audit_log ORDER BY seq DESC LIMIT 1", {});
    return read_one<audit_head>(rows, "last_audit", [](const sql_row& row, std::string_view operation) -> expected<audit_head> {
        row_reader r(row, operation);
        audit_head h;
        h.seq = r.take<std::int64_t>();
        h.mac = r.take<byte_string>();
        if (auto ok = r.finish(); !ok) return ok.error();
        return h;
    });
}

expected<void> sql_store_tx::append_audit(const audit_row& a) {
    auto last = last_audit();
    if (!last) return last.error();
    const std::int64_t next = *last ? (*last)->seq + 1 : 1;
    // The caller chained its mac to the entry it read: appending elsewhere would break the chain.
    if (a.seq != next)
        return make_error(fmt::format("append_audit: entry {} does not follow the log's last ({})", a.seq, next - 1));
    const std::array<sql_value, 10> p{a.seq,          a.at_ms,         text(a.actor),   text(a.source),
                                      text(a.action), text(a.target),  text(a.outcome), text(a.details),
                                      a.key_version,  a.mac};
    auto r = sql_.execute(
        "append_audit",
        fmt::format("INSERT INTO audit_log ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)", audit_columns), p);
    if (!r) return r.error();
    return {};
}

expected<std::vector<audit_row>> sql_store_tx::audit_page(std::string_view user, std::int64_t after_seq,
                                                          std::size_t limit) {
    const std::array<sql_value, 3> p{after_seq, text(user), page_size(limit)};
    const auto rows = sql_.query(
        "audit_page",
        fmt::format("SELECT {} FROM audit_log WHERE seq > $1 AND (actor = $2 OR target = $2) ORDER BY seq LIMIT $3",
                    audit_columns),
        p);
    return read_all<audit_row>(rows, "audit_page", read_audit);
}

expected<std::vector<audit_row>> sql_store_tx::audit_all(std::int64_t after_seq, std::size_t limit) {
    const std::array<sql_value, 2> p{after_seq, page_size(limit)};
    const auto rows = sql_.query(
        "audit_all", fmt::format("SELECT {} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2", audit_columns), p);
    return read_all<audit_row>(rows, "audit_all", read_audit);
}

// --- replicas and leases

namespace {

expected<lease_row> read_lease(const sql_row& row, std::string_view operation) {
    row_reader r(row, operation);
    lease_row l;
    l.user_id = r.take<std::string>();
    l.fencing = r.take<std::int64_t>();
    l.expires_ms = r.take<std::int64_t>();
    if (auto ok = r.finish(); !ok) return ok.error();
    return l;
}

// RETURNING gives no order: the caller gets the leases by user id.
expected<std::vector<lease_row>> leases_by_user(const expected<std::vector<sql_row>>& rows, std::string_view operation) {
    auto out = read_all<lease_row>(rows, operation, read_lease);
    if (out) std::sort(out->begin(), out->end(), [](const lease_row& a, const lease_row& b) { return a.user_id < b.user_id; });
    return out;
}

}  // namespace

expected<void> sql_store_tx::heartbeat(std::string_view replica_id, bool starting) {
    const std::array<sql_value, 2> p{text(replica_id), std::int64_t{starting ? 1 : 0}};
    auto r = sql_.execute("heartbeat",
                          engine("INSERT INTO replicas (id, started_ms, heartbeat_ms) VALUES ($1, {now_ms}, {now_ms}) "
                                 "ON CONFLICT (id) DO UPDATE SET heartbeat_ms = excluded.heartbeat_ms, started_ms = "
                                 "CASE WHEN $2 = 1 THEN excluded.started_ms ELSE replicas.started_ms END"),
                          p);
    if (!r) return r.error();
    return {};
}

namespace {

// The one integer of a COUNT(*).
expected<std::int64_t> read_count(const expected<std::vector<sql_row>>& rows, std::string_view operation) {
    auto count = read_one<std::int64_t>(rows, operation, [](const sql_row& row, std::string_view op) {
        row_reader r(row, op);
        const auto n = r.take<std::int64_t>();
        if (auto ok = r.finish(); !ok) return expected<std::int64_t>(ok.error());
        return expected<std::int64_t>(n);
    });
    if (!count) return count.error();
    return count->value_or(0);
}

}  // namespace

expected<void> sql_store_tx::leave(std::string_view replica_id) {
    const std::array<sql_value, 1> p{text(replica_id)};
    auto r = sql_.execute("leave", "UPDATE replicas SET heartbeat_ms = 0 WHERE id = $1", p);
    if (!r) return r.error();
    return {};
}

expected<std::int64_t> sql_store_tx::live_replicas(std::int64_t within_ms, std::string_view except) {
    const std::array<sql_value, 2> p{within_ms, text(except)};
    return read_count(sql_.query("live_replicas",
                                 engine("SELECT COUNT(*) FROM replicas WHERE heartbeat_ms > {now_ms} - $1 AND id <> $2"), p),
                      "live_replicas");
}

expected<std::int64_t> sql_store_tx::count_credentials() {
    return read_count(sql_.query("count_credentials", "SELECT COUNT(*) FROM credentials", {}), "count_credentials");
}

expected<std::vector<lease_row>> sql_store_tx::claim_leases(std::string_view replica_id, std::size_t limit,
                                                           std::int64_t ttl_ms) {
    // Every credential has a lease row; a new credential's is made free here. (SQLite needs the
    // SELECT's WHERE to tell the upsert's ON from a join's.)
    auto made = sql_.execute("claim_leases",
                             "INSERT INTO leases (user_id, holder, expires_ms, fencing) "
                             "SELECT user_id, NULL, 0, 0 FROM credentials c "
                             "WHERE NOT EXISTS (SELECT 1 FROM leases l WHERE l.user_id = c.user_id) "
                             "ON CONFLICT (user_id) DO NOTHING",
                             {});
    if (!made) return made.error();
    const std::array<sql_value, 3> p{text(replica_id), ttl_ms, page_size(limit)};
    const auto rows = sql_.query(
        "claim_leases",
        engine("UPDATE leases SET holder = $1, expires_ms = {now_ms} + $2, fencing = fencing + 1 "
               "WHERE user_id IN (SELECT user_id FROM leases WHERE holder IS NULL OR expires_ms <= {now_ms} "
               "ORDER BY user_id LIMIT $3 {skip_locked}) "
               "RETURNING user_id, fencing, expires_ms"),
        p);
    return leases_by_user(rows, "claim_leases");
}

expected<std::vector<lease_row>> sql_store_tx::renew_leases(std::string_view replica_id, std::int64_t ttl_ms) {
    const std::array<sql_value, 2> p{text(replica_id), ttl_ms};
    const auto rows = sql_.query("renew_leases",
                                 engine("UPDATE leases SET expires_ms = {now_ms} + $2 "
                                        "WHERE holder = $1 AND expires_ms > {now_ms} "
                                        "RETURNING user_id, fencing, expires_ms"),
                                 p);
    return leases_by_user(rows, "renew_leases");
}

expected<bool> sql_store_tx::release_lease(std::string_view replica_id, const lease_row& lease) {
    const std::array<sql_value, 3> p{text(replica_id), text(lease.user_id), lease.fencing};
    auto r = sql_.execute("release_lease",
                          engine("UPDATE leases SET holder = NULL, expires_ms = {now_ms} "
                                 "WHERE user_id = $2 AND holder = $1 AND fencing = $3"),
                          p);
    if (!r) return r.error();
    return *r == 1;
}

expected<replica_census> sql_store_tx::census() {
    replica_census out;
    auto now = read_count(sql_.query("census", engine("SELECT {now_ms}"), {}), "census");
    if (!now) return now.error();
    out.now_ms = *now;
    const auto replicas = sql_.query(
        "census", engine("SELECT r.id, r.started_ms, r.heartbeat_ms, (SELECT COUNT(*) FROM leases l WHERE l.holder = "
                         "r.id AND l.expires_ms > {now_ms}) FROM replicas r ORDER BY r.id"),
        {});
    auto rows = read_all<replica_row>(replicas, "census", [](const sql_row& row, std::string_view op) -> expected<replica_row> {
        row_reader r(row, op);
        replica_row out;
        out.id = r.take<std::string>();
        out.started_ms = r.take<std::int64_t>();
        out.heartbeat_ms = r.take<std::int64_t>();
        out.leases = r.take<std::int64_t>();
        if (auto ok = r.finish(); !ok) return ok.error();
        return out;
    });
    if (!rows) return rows.error();
    out.replicas = std::move(*rows);
    const auto leases = sql_.query("census", "SELECT user_id, holder, fencing, expires_ms FROM leases ORDER BY user_id", {});
    auto held = read_all<lease_holder_row>(leases, "census", [](const sql_row& row, std::string_view op) -> expected<lease_holder_row> {
        row_reader r(row, op);
        lease_holder_row out;
        out.user_id = r.take<std::string>();
        out.holder = r.take_optional<std::string>().value_or("");
        out.fencing = r.take<std::int64_t>();
        out.expires_ms = r.take<std::int64_t>();
        if (auto ok = r.finish(); !ok) return ok.error();
        return out;
    });
    if (!held) return held.error();
    out.leases = std::move(*held);
    return out;
}

expected<void> sql_store_tx::announce_user(std::string_view user_id) {
    const std::string_view notify = sql_.words().notify_user;
    if (notify.empty()) return {};
    const std::array<sql_value, 1> p{text(user_id)};
    auto r = sql_.query("announce_user", notify, p);
    if (!r) return r.error();
    return {};
}

expected<void> sql_store_tx::announce_released(std::string_view replica_id) {
    return announce_user(std::string(replica_id) + "/");
}

// --- pacing

expected<std::optional<std::string>> sql_store_tx::load_pacing(std::string_view username) {
    const std::array<sql_value, 1> p{text(username)};
    const auto rows = sql_.query("load_pacing", "SELECT record FROM pacing WHERE username = $1", p);
    return read_one<std::string>(rows, "load_pacing", read_text);
}

expected<void> sql_store_tx::save_pacing(std::string_view username, std::string_view record, std::int64_t at_ms,
                                         const std::optional<lease_fence>& fence) {
    if (fence) {
        // The lease row stays locked until the commit: a take-over (claim_leases' UPDATE) waits.
        const std::array<sql_value, 3> f{text(fence->lease.user_id), text(fence->holder), fence->lease.fencing};
        const auto held = sql_.query("save_pacing",
                                     engine("SELECT fencing FROM leases WHERE user_id = $1 AND holder = $2 AND "
                                            "fencing = $3 AND expires_ms > {now_ms} {for_share}"),
                                     f);
        if (!held) return held.error();
        if (held->empty())
            return make_error(fmt::format("save_pacing: refused: this replica no longer holds the user's lease with "
                                          "fencing token {} (it expired or another replica took the user over); the "
                                          "record is the holder's to write",
                                          fence->lease.fencing));
    }
    const std::array<sql_value, 3> p{text(username), text(record), at_ms};
    auto r = sql_.execute("save_pacing",
                          "INSERT INTO pacing (username, record, updated_ms) VALUES ($1, $2, $3) "
                          "ON CONFLICT (username) DO UPDATE SET record = excluded.record, updated_ms = excluded.updated_ms",
                          p);
    if (!r) return r.error();
    return {};
}

}  // namespace sessiond
