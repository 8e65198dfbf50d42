#pragma once
// The database of multi-user mode (issue 12): users and their API tokens, each user's IBKR
// credential (its private key sealed: key_record is ciphertext, opaque here), the append-only audit
// log, and the per-username pacing records.
//
// credential_store owns the database and the one thread every call to it runs on. The event loop
// never waits for the disk: `co_await store.transact(fn)` runs fn(store_tx&) on the database
// thread inside one transaction (all of fn's writes are committed, or, when fn returns an error,
// none) and resumes the coroutine on its own executor with fn's result. Several operations and
// the audit entry that records them are therefore one transaction.
//
// Secrets: no row is ever logged or put in an error message (key_record, token_hash, mac); errors
// name the operation and the engine's reason only.

#include "sessiond/core/error.hpp"
#include "sessiond/core/offload.hpp"
#include "sessiond/core/secret.hpp"
#include "sessiond/store/database.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace sessiond {

// Times are unix milliseconds, as stored.
struct user_row {
    std::string id;
    std::int64_t created_ms = 0;
    std::optional<byte_string> token_hash;  // of the user's API token; none: no token issued
    std::optional<std::int64_t> token_created_ms;
};

struct credential_row {
    std::string user_id;
    std::string credential_id;
    std::string client_id;
    std::string client_key_id;
    std::string username;
    std::string account_id;
    std::string allowed_ip;
    std::string environment;
    std::optional<std::string> scope;
    std::string key_fingerprint;
    byte_string key_record;  // the sealed private key: ciphertext under key_version
    std::int64_t key_version = 0;
    std::string etag;  // changes whenever the credential's content does (put_credential)
    std::int64_t created_ms = 0;
    std::int64_t updated_ms = 0;
    std::optional<std::int64_t> last_validated_ms;
};

struct key_version_count {
    std::int64_t key_version = 0;
    std::int64_t credentials = 0;
};

struct audit_row {
    std::int64_t seq = 0;  // 1, 2, 3 ...: the entry after the log's last
    std::int64_t at_ms = 0;
    std::string actor;
    std::string source;
    std::string action;
    std::string target;
    std::string outcome;
    std::string details;
    std::int64_t key_version = 0;  // of the key that made mac
    byte_string mac;               // chains this entry to the previous one (computed by the caller)
};

// A replica's hold on one user's session (issue 13).
struct lease_row {
    std::string user_id;
    std::int64_t fencing = 0;     // grows on every take-over
    std::int64_t expires_ms = 0;  // by the database's clock
};

// What a replica writes on a user's behalf under: its lease on the user with this fencing token,
// unexpired by the database's clock. A write under a lease that has gone is refused, so that a
// replica that stalled past its lease cannot overwrite what the new holder wrote since.
struct lease_fence {
    std::string holder;  // the replica id
    lease_row lease;     // user_id and fencing token
};

// The replicas the database knows, as the admin's summary shows them (GET /api/replicas).
struct replica_row {
    std::string id;
    std::int64_t started_ms = 0;
    std::int64_t heartbeat_ms = 0;
    std::int64_t leases = 0;  // unexpired leases it holds
};
// Every user's lease: who holds it (empty: free), until when, with which token.
struct lease_holder_row {
    std::string user_id;
    std::string holder;
    std::int64_t fencing = 0;
    std::int64_t expires_ms = 0;
};
struct replica_census {
    std::int64_t now_ms = 0;  // the database's clock
    std::vector<replica_row> replicas;
    std::vector<lease_holder_row> leases;
};

struct audit_head {
    std::int64_t seq = 0;
    byte_string mac;
};

// The operations of one transaction. Abstract so that every engine offers the same; the one
// implementation today writes the portable SQL of database.hpp. Used only inside transact's
// function, on the database thread.
class store_tx {
public:
    virtual ~store_tx() = default;

    // Users, ordered by id.
    virtual expected<void> insert_user(const user_row& user) = 0;
    virtual expected<std::optional<user_row>> find_user(std::string_view id) = 0;
    virtual expected<std::optional<user_row>> find_user_by_token_hash(const byte_string& hash) = 0;
    // A new token (or none: revoked). False when there is no such user.
    virtual expected<bool> set_token_hash(std::string_view id, const std::optional<byte_string>& hash,
                                          std::int64_t at_ms) = 0;
    // Deletes the user's credential too. False when there was no such user.
    virtual expected<bool> delete_user(std::string_view id) = 0;
    // The first `limit` users whose id sorts after `after_id` ("" for the first page).
    virtual expected<std::vector<user_row>> list_users(std::string_view after_id, std::size_t limit) = 0;

    // Credentials: at most one per user.
    virtual expected<std::optional<credential_row>> find_credential(std::string_view user_id) = 0;
    // Inserts, or replaces the user's credential in place (its user must exist).
    virtual expected<void> put_credential(const credential_row& credential) = 0;
    virtual expected<bool> delete_credential(std::string_view user_id) = 0;
    // The user whose credential logs in as this IBKR username (at most one: a unique index).
    virtual expected<std::optional<std::string>> credential_owner(std::string_view username) = 0;
    // How many credentials each key version seals, by version: what a key rotation has left to do.
    virtual expected<std::vector<key_version_count>> list_key_versions() = 0;
    virtual expected<std::vector<credential_row>> credentials_with_key_version(std::int64_t key_version,
                                                                               std::string_view after_user_id,
                                                                               std::size_t limit) = 0;
    // A re-sealed key record, written only if the credential still has `expected_etag`: false when it
    // changed (or went) since it was read, and the new record was not written. Content is unchanged,
    // so etag and updated_ms stay.
    virtual expected<bool> update_key_record(std::string_view user_id, std::string_view expected_etag,
                                             const byte_string& record, std::int64_t key_version) = 0;

    // The audit log: appended to, never changed (there is no call that would).
    virtual expected<std::optional<audit_head>> last_audit() = 0;
    // Fails, writing nothing, unless entry.seq is the last one's + 1 (1 for the first).
    virtual expected<void> append_audit(const audit_row& entry) = 0;
    // Entries after `after_seq` whose actor or target is `user`, in seq order.
    virtual expected<std::vector<audit_row>> audit_page(std::string_view user, std::int64_t after_seq,
                                                        std::size_t limit) = 0;
    // Every entry after `after_seq`, in seq order: what a verification of the chain reads, page by page.
    virtual expected<std::vector<audit_row>> audit_all(std::int64_t after_seq, std::size_t limit) = 0;

    // Replicas sharing the database. Every time is the database's clock ({now_ms}), never the caller's.
    // The replica says it is alive (its row is made on the first call); `starting`: the first time
    // since this process started (the row's started time is now).
    virtual expected<void> heartbeat(std::string_view replica_id, bool starting) = 0;
    // The replica stops (gracefully): no longer counted alive from now on, not a TTL later, so that the
    // others' fair shares grow at once. Its row stays, with when it started.
    virtual expected<void> leave(std::string_view replica_id) = 0;
    // How many replicas said so within the last `within_ms` (other than `except`, when given).
    virtual expected<std::int64_t> live_replicas(std::int64_t within_ms, std::string_view except = {}) = 0;
    // How many users have a credential: how many sessions the replicas share.
    virtual expected<std::int64_t> count_credentials() = 0;
    // Takes up to `limit` users whose lease is free or expired (every credential has one; the rows
    // are made here), for `ttl_ms`, each with its fencing token raised. On PostgreSQL, rows another
    // claimer has locked are skipped, not waited for. In user id order.
    virtual expected<std::vector<lease_row>> claim_leases(std::string_view replica_id, std::size_t limit,
                                                         std::int64_t ttl_ms) = 0;
    // Extends the replica's leases that have not expired, by `ttl_ms` from now; the ones renewed. A
    // lease it held that is missing from the answer is lost: expired, or taken over.
    virtual expected<std::vector<lease_row>> renew_leases(std::string_view replica_id, std::int64_t ttl_ms) = 0;
    // Gives a lease back (free at once) if the replica still holds it with that fencing token.
    virtual expected<bool> release_lease(std::string_view replica_id, const lease_row& lease) = 0;
    // Every replica and every lease, by the database's clock.
    virtual expected<replica_census> census() = 0;
    // Tells the other replicas, once this transaction commits, that the user (token, credential)
    // changed (PostgreSQL's NOTIFY on channel sessiond_users; nothing on SQLite).
    virtual expected<void> announce_user(std::string_view user_id) = 0;
    // Tells the other replicas, once this transaction commits, that this replica gave leases back
    // (payload "<replica>/", no user): they claim at once rather than at their next round.
    virtual expected<void> announce_released(std::string_view replica_id) = 0;

    // The pacing record of an IBKR username, in pacing_file.hpp's text form.
    virtual expected<std::optional<std::string>> load_pacing(std::string_view username) = 0;
    // Written as one of several replicas only under `fence` (the lease row locked FOR SHARE, so no
    // take-over commits in between); an error when the lease is no longer the replica's.
    virtual expected<void> save_pacing(std::string_view username, std::string_view record, std::int64_t at_ms,
                                       const std::optional<lease_fence>& fence) = 0;
};

class credential_store {
public:
    // Makes the engine's connection; runs on the database thread.
    using database_opener = std::function<expected<std::unique_ptr<database>>()>;

    // Opens the database on the store's thread and brings its schema up to date
    // (schema_migrations.hpp). An error names the database and what failed.
    static boost::asio::awaitable<expected<std::unique_ptr<credential_store>>> open(database_opener opener);
    static boost::asio::awaitable<expected<std::unique_ptr<credential_store>>> open_sqlite(std::filesystem::path file);
    // The two engines' openers: a SQLite file (sqlite_database.hpp), a PostgreSQL server by libpq's
    // connection string (postgresql_database.hpp; `lock`: how it holds the one-daemon lock).
    static database_opener sqlite_opener(std::filesystem::path file);
    static database_opener postgresql_opener(secret conninfo, daemon_lock lock = daemon_lock::none);

    // Runs what was already queued, then closes the database. Destroy the store before the
    // io_context of its callers: the last results are posted there.
    ~credential_store();
    credential_store(const credential_store&) = delete;
    credential_store& operator=(const credential_store&) = delete;

    // fn: expected<T>(store_tx&), run on the database thread in one transaction, committed when it
    // returns a value and rolled back when it returns an error. fn must only use what it owns or
    // what the awaiting coroutine keeps alive; pass it as a named object (GCC 12, see offload.hpp).
    template <class F>
    auto transact(F fn) {
        using result = std::invoke_result_t<F&, store_tx&>;
        auto job = [db = database_.get(), fn = std::move(fn)]() mutable -> result {
            if constexpr (std::is_void_v<typename result::value_type>) {
                return run_transaction(*db, [&fn](store_tx& tx) { return fn(tx); });
            } else {
                std::optional<typename result::value_type> out;
                auto body = [&fn, &out](store_tx& tx) -> expected<void> {
                    auto r = fn(tx);
                    if (!r) return r.error();
                    out.emplace(std::move(*r));
                    return {};
                };
                if (auto done = run_transaction(*db, body); !done) return done.error();
                return std::move(*out);
            }
        };
        return thread_.run(std::move(job));
    }

    [[nodiscard]] const std::string& where() const noexcept { return where_; }

private:
    credential_store();
    // On the database thread: fn inside a transaction of db, through the SQL store_tx.
    static expected<void> run_transaction(database& db, const std::function<expected<void>(store_tx&)>& fn);

    // Declared first, destroyed last: the thread is joined in the destructor's body.
    std::unique_ptr<database> database_;
    std::string where_;
    boost::asio::thread_pool pool_{1};
    offload thread_{pool_.get_executor()};
};

}  // namespace sessiond
