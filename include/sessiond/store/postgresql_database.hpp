#pragma once
// The PostgreSQL engine (Debian's libpq, used directly): one connection, used from one thread at a
// time (the store's database thread, as SQLite's is). libpq's blocking calls are therefore never on
// the event loop; the thread is the simpler of the two ways issue 13 allows, and the store already
// has it.
//
// What the connection is opened with, before the operator's own settings (which win):
//   connect_timeout=10             a server that does not answer fails the call, not the thread
//   keepalives, tcp_user_timeout   a server that went away is noticed within about 30 s
//   application_name=ibkr-sessiond what pg_stat_activity shows
// Every statement is sent, then its answer awaited at most answer_within (poll() on libpq's socket):
// a server, or a proxy in between, that stops answering without closing the connection (a network
// partition behind a pooler; keepalives see nothing wrong) fails the call instead of holding the
// database thread, and with it every later call, until the partition ends. A connection that broke
// or was given up so is made again at the start of the next transaction (and the daemon's takes
// its one-daemon lock again).
//
// Values travel as bound parameters of prepared statements (integers and byte strings in binary,
// text as text); results come back in binary and are read by column type. Errors carry the
// operation, the SQLSTATE and the server's primary message, never its DETAIL (which can quote a
// row's values); where() names user, host, port and database, never the password.

#include "sessiond/store/database.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

struct pg_conn;
struct pg_result;

namespace sessiond {

class postgresql_database final : public database, private sql_connection {
public:
    // Connects with libpq's connection string or URI `conninfo` (the PG* environment variables
    // fill in what it leaves out). The error names the server (without a password) and libpq's reason.
    //
    // `lock`: the connection also holds the database's one-daemon lock (serial_lock::one_daemon, see
    // daemon_lock) while it lives, and opening fails when a daemon holds it in a way that excludes this
    // one. Two daemons that do not share the users by leases would both log every user in, each ending
    // the other's sessions. The operator's commands (keys, audit) open it beside the daemon, without the lock.
    // The lock is waited for up to `lock_wait` (a daemon restarted at once finds its predecessor's
    // connection still closing on the server, and the lock with it); zero: not at all.
    // A statement's answer is awaited at most `answer_within` (the lock's wait comes on top).
    static expected<std::unique_ptr<postgresql_database>> open(const std::string& conninfo, daemon_lock lock = daemon_lock::none,
                                                               std::chrono::milliseconds lock_wait = std::chrono::seconds(10),
                                                               std::chrono::milliseconds answer_within = std::chrono::seconds(15));

    ~postgresql_database() override;
    postgresql_database(const postgresql_database&) = delete;
    postgresql_database& operator=(const postgresql_database&) = delete;

    // BEGIN ... COMMIT at READ COMMITTED. What must not interleave between writers (the schema
    // migrations, the audit chain's head) takes a transaction-scoped advisory lock (serialize).
    expected<void> transaction(const transaction_body& body) override;
    [[nodiscard]] std::string where() const override { return where_; }

private:
    postgresql_database(std::string conninfo, std::string where, pg_conn* conn, daemon_lock lock,
                        std::chrono::milliseconds lock_wait, std::chrono::milliseconds answer_within)
        : conninfo_(std::move(conninfo)), where_(std::move(where)), conn_(conn), lock_(lock),
          lock_wait_(lock_wait), answer_within_(answer_within) {}

    expected<std::vector<sql_row>> query(std::string_view operation, std::string_view sql,
                                         std::span<const sql_value> params) override;
    expected<std::int64_t> execute(std::string_view operation, std::string_view sql,
                                   std::span<const sql_value> params) override;
    expected<void> execute_script(std::string_view operation, std::string_view sql) override;
    expected<void> serialize(std::string_view operation, serial_lock lock) override;
    // clock_timestamp(), not now(): a transaction's now() is its start, however long it ran.
    [[nodiscard]] const engine_words& words() const override {
        static constexpr engine_words postgresql{"BYTEA", "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT",
                                                 "FOR UPDATE SKIP LOCKED", "FOR SHARE", "SELECT pg_notify('sessiond_users', $1)"};
        return postgresql;
    }

    struct result_deleter {
        void operator()(pg_result* r) const noexcept;
    };
    using result_ptr = std::unique_ptr<pg_result, result_deleter>;

    // The answer to what was just sent (`sent`: the PQsend* call's return), awaited at most
    // `within`: the last result, or the first that is an error (as PQexec answers). When none comes
    // in time or the connection broke: an error naming `operation`, and the connection is given up
    // (made again at the next transaction).
    expected<result_ptr> answer(std::string_view operation, int sent) { return answer(operation, sent, answer_within_); }
    expected<result_ptr> answer(std::string_view operation, int sent, std::chrono::milliseconds within);
    // A statement without parameters (several, separated by semicolons), answered in time and
    // successfully.
    expected<result_ptr> exec(std::string_view operation, const std::string& sql);

    struct statement {
        std::string name;
        std::vector<unsigned int> param_types;  // Oid of each $n, as the server inferred it
    };

    // Connected (made again if the server ended it) and, for the daemon, holding the one-daemon lock.
    expected<void> ready();
    // Takes the one-daemon lock on this connection; an error when another daemon holds it.
    expected<void> take_daemon_lock();
    expected<const statement*> prepared(std::string_view operation, std::string_view sql, std::size_t param_count);
    // changed: where to put the number of rows a statement without result changed.
    expected<std::vector<sql_row>> run(std::string_view operation, std::string_view sql,
                                       std::span<const sql_value> params, std::int64_t* changed);
    [[nodiscard]] error failure(std::string_view operation, std::string_view reason) const;
    [[nodiscard]] error failure(std::string_view operation, const pg_result* result) const;

    std::string conninfo_;
    std::string where_;
    pg_conn* conn_;
    daemon_lock lock_;
    std::chrono::milliseconds lock_wait_;
    std::chrono::milliseconds answer_within_;
    bool holds_daemon_lock_ = false;
    bool gone_ = false;  // given up (no answer in time): closed and made again by ready()
    // A connection that could not be made again is tried at most this often.
    static constexpr std::chrono::seconds reconnect_every{2};
    std::chrono::steady_clock::time_point connect_failed_at_;
    std::string connect_failure_;  // why the last attempt failed; empty once one succeeded
    // Statement text -> prepared statement, for this connection (cleared when it is made again).
    std::unordered_map<std::string, statement> statements_;
};

}  // namespace sessiond
