#pragma once
// The SQLite engine (Debian's libsqlite3): one connection to one file, used from one thread at a
// time (the store's database thread).
//
// Opening sets, and checks, what the store relies on:
//   journal_mode=WAL     readers (a future status page, the sqlite3 shell of an operator) never
//                        block the writer, and a commit is one append to the log
//   synchronous=FULL     a committed transaction survives a power loss (an audit entry, a rotated
//                        key must not come back older after a crash)
//   foreign_keys=ON      SQLite's default is off; deleting a user must delete its credential
//   busy_timeout=5000    another process writing the file makes us wait, not fail at once
// WAL needs shared memory beside the file; a filesystem without it (some network ones) leaves the
// file in another journal mode, and opening refuses it rather than run with other guarantees.

#include "sessiond/store/database.hpp"

#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>

struct sqlite3;
struct sqlite3_stmt;

namespace sessiond {

class sqlite_database final : public database, private sql_connection {
public:
    inline static constexpr int busy_timeout_ms = 5000;

    // Opens `file`, creating it (mode 0600; an existing file is narrowed to 0600) in a directory
    // that must already exist. The error names the file. `vfs` names SQLite's OS layer; null is the
    // platform's own (another, e.g. "unix-dotfile" without shared memory, is how the WAL refusal is tested).
    static expected<std::unique_ptr<sqlite_database>> open(const std::filesystem::path& file, const char* vfs = nullptr);

    ~sqlite_database() override;
    sqlite_database(const sqlite_database&) = delete;
    sqlite_database& operator=(const sqlite_database&) = delete;

    // BEGIN IMMEDIATE: the write lock is taken at the start, so a transaction that read something
    // never fails at its first write because another connection wrote meanwhile.
    expected<void> transaction(const transaction_body& body) override;
    [[nodiscard]] std::string where() const override { return file_.string(); }

private:
    sqlite_database(std::filesystem::path file, sqlite3* db) : file_(std::move(file)), db_(db) {}

    expected<std::vector<sql_row>> query(std::string_view operation, std::string_view sql,
                                         std::span<const sql_value> params) override;
    expected<std::int64_t> execute(std::string_view operation, std::string_view sql,
                                   std::span<const sql_value> params) override;
    expected<void> execute_script(std::string_view operation, std::string_view sql) override;
    // BEGIN IMMEDIATE already holds the one write lock: nothing else to wait for.
    expected<void> serialize(std::string_view, serial_lock) override { return {}; }
    // The clock: julianday('now') has millisecond precision. No row locks to skip: one writer.
    [[nodiscard]] const engine_words& words() const override {
        static constexpr engine_words sqlite{"BLOB", "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)", "", "", ""};
        return sqlite;
    }

    expected<void> configure();
    expected<sqlite3_stmt*> prepared(std::string_view operation, std::string_view sql, std::size_t param_count);
    expected<std::vector<sql_row>> run(std::string_view operation, std::string_view sql,
                                       std::span<const sql_value> params, bool want_rows);
    [[nodiscard]] error failure(std::string_view operation) const;
    void rollback_if_open();

    std::filesystem::path file_;
    sqlite3* db_;
    // Each statement is prepared once per connection and reused: the store's SQL is a fixed set.
    std::unordered_map<std::string, sqlite3_stmt*> statements_;
};

}  // namespace sessiond
