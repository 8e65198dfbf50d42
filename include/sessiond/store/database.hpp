#pragma once
// The database engine under the store of multi-user mode: SQLite (sqlite_database.hpp) or
// PostgreSQL (postgresql_database.hpp), behind the same two classes. The store's SQL is written once, in the subset
// both engines accept: $1, $2 ... placeholders, INTEGER/BIGINT/TEXT columns, ON CONFLICT upserts,
// LIMIT with a bound value, RETURNING. What they say differently is written as a placeholder and
// substituted per engine (engine_sql): "{blob}" for the byte-string type (BLOB, BYTEA), "{now_ms}"
// for the database's clock in unix milliseconds, "{skip_locked}" for FOR UPDATE SKIP LOCKED and
// "{for_share}" for FOR SHARE (nothing on SQLite, whose one writer locks the whole database).
//
// Every call blocks: they run on the store's database thread (credential_store.hpp), never on the
// event loop. Values only ever travel as bound parameters, never inside SQL text. Error messages
// name the operation and the engine's reason, never a value.

#include "sessiond/core/error.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace sessiond {

using byte_string = std::vector<std::uint8_t>;

// One bound parameter or one column of a result: NULL, an integer, text or bytes.
using sql_value = std::variant<std::nullptr_t, std::int64_t, std::string, byte_string>;
using sql_row = std::vector<sql_value>;

// What must happen one writer at a time across every connection to the database, whatever the
// engine: held from serialize() to the end of the transaction. SQLite's write transaction already
// excludes every other writer; PostgreSQL takes an advisory lock with this number.
enum class serial_lock : std::int64_t {
    schema = 0x5e55'10d0'0001,       // the migrations, when several daemons start together
    audit_chain = 0x5e55'10d0'0002,  // reading the chain's head and appending after it
    // Not per transaction: held by the daemon's connection for as long as it lives (PostgreSQL's
    // session-level advisory lock), so that a second daemon on the same database is refused.
    one_daemon = 0x5e55'10d0'0003,
};

// How a daemon's connection holds serial_lock::one_daemon: not at all (the operator's commands
// beside the daemon), alone (exclusive: the only daemon of the database), or as one of several
// replicas (shared: replicas coexist, and a daemon that would run alone is refused while they
// run, and they while it runs).
enum class daemon_lock { none, alone, replica };

// What the placeholders of the store's SQL become on one engine.
struct engine_words {
    std::string_view blob;         // "{blob}"
    std::string_view now_ms;       // "{now_ms}": an expression, the database's clock in unix ms
    std::string_view skip_locked;  // "{skip_locked}"
    std::string_view for_share;    // "{for_share}"
    // The statement that tells the other replicas a user changed ($1: the user id), sent when the
    // transaction commits; empty where nobody listens (SQLite: one daemon per file).
    std::string_view notify_user;
};

// What a transaction's body talks to. Handed out only inside database::transaction, so that every
// statement of the store runs in one.
class sql_connection {
public:
    virtual ~sql_connection() = default;

    // The rows of a statement with parameters $1..$n bound from `params` (exactly as many). The
    // operation names the caller's step in an error ("find_user: ...").
    virtual expected<std::vector<sql_row>> query(std::string_view operation, std::string_view sql,
                                                 std::span<const sql_value> params) = 0;
    // A statement without result rows; how many rows it changed.
    virtual expected<std::int64_t> execute(std::string_view operation, std::string_view sql,
                                           std::span<const sql_value> params) = 0;
    // Several statements without parameters (schema migrations only).
    virtual expected<void> execute_script(std::string_view operation, std::string_view sql) = 0;
    // Waits until no other transaction holds `lock`, and holds it until this one ends.
    virtual expected<void> serialize(std::string_view operation, serial_lock lock) = 0;
    // What the placeholders of the store's SQL become on this engine.
    [[nodiscard]] virtual const engine_words& words() const = 0;
};


using transaction_body = std::function<expected<void>(sql_connection&)>;

class database {
public:
    virtual ~database() = default;

    // Runs `body` in a write transaction: everything it did is committed when it returns success,
    // nothing when it returns an error. An exception (a programming error) rolls back as it passes;
    // on the store's thread it then ends the process, and an uncommitted transaction is never seen.
    // Waits for another writer of the same database up to the engine's busy timeout.
    virtual expected<void> transaction(const transaction_body& body) = 0;
    // For messages: the file or the server this is.
    [[nodiscard]] virtual std::string where() const = 0;
};

// SQL text for one engine: each placeholder replaced by the engine's words. Pure.
std::string engine_sql(std::string_view text, const engine_words& words);

}  // namespace sessiond
