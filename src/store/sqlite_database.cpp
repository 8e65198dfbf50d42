#include "sessiond/store/sqlite_database.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

namespace sessiond {

namespace {

// SQLite would create the file with 0644 less the umask: it is made here first, private.
expected<void> create_private_file(const std::filesystem::path& file) {
    std::error_code ec;
    const auto dir = file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
    if (!std::filesystem::is_directory(dir, ec))
        return make_error(fmt::format("database {}: directory {} does not exist", file.string(), dir.string()));
    const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return make_error(fmt::format("database {}: cannot open: {}", file.string(), std::strerror(errno)));
    const int changed = ::fchmod(fd, 0600);
    const int saved = errno;
    ::close(fd);
    if (changed != 0)
        return make_error(fmt::format("database {}: cannot make it private (0600): {}", file.string(), std::strerror(saved)));
    return {};
}

// The SQL text is the cache key; bound values never are.
void finalize_all(std::unordered_map<std::string, sqlite3_stmt*>& statements) {
    for (auto& [sql, stmt] : statements) sqlite3_finalize(stmt);
    statements.clear();
}

}  // namespace

expected<std::unique_ptr<sqlite_database>> sqlite_database::open(const std::filesystem::path& file, const char* vfs) {
    if (auto created = create_private_file(file); !created) return created.error();
    sqlite3* db = nullptr;
    // The journal files (-wal, -shm) take the database file's mode: private too.
    const int rc = sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, vfs);
    if (rc != SQLITE_OK) {
        auto e = make_error(fmt::format("database {}: cannot open: {}", file.string(),
                                        db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
        sqlite3_close_v2(db);
        return e;
    }
    std::unique_ptr<sqlite_database> out(new sqlite_database(file, db));
    if (auto configured = out->configure(); !configured) return configured.error();
    return out;
}

sqlite_database::~sqlite_database() {
    finalize_all(statements_);
    sqlite3_close_v2(db_);
}

expected<void> sqlite_database::configure() {
    sqlite3_extended_result_codes(db_, 1);
    // First, so that switching to WAL waits for another process's lock too.
    if (sqlite3_busy_timeout(db_, busy_timeout_ms) != SQLITE_OK) return failure("busy_timeout");
    auto mode = run("journal_mode", "PRAGMA journal_mode=WAL", {}, true);
    if (!mode) return mode.error();
    const auto* answer = mode->size() == 1 && mode->front().size() == 1 ? std::get_if<std::string>(&mode->front()[0]) : nullptr;
    if (answer == nullptr || *answer != "wal")
        return make_error(fmt::format(
            "database {}: journal_mode=WAL did not take (SQLite kept '{}'); WAL needs shared memory beside "
            "the file, which this filesystem may not offer: put the database on a local filesystem",
            file_.string(), answer != nullptr ? *answer : std::string("?")));
    if (auto r = execute_script("synchronous", "PRAGMA synchronous=FULL"); !r) return r.error();
    if (auto r = execute_script("foreign_keys", "PRAGMA foreign_keys=ON"); !r) return r.error();
    return {};
}

error sqlite_database::failure(std::string_view operation) const {
    return make_error(fmt::format("database {}: {}: {}", file_.string(), operation, sqlite3_errmsg(db_)));
}

expected<sqlite3_stmt*> sqlite_database::prepared(std::string_view operation, std::string_view sql,
                                                  std::size_t param_count) {
    const std::string key(sql);
    if (auto found = statements_.find(key); found != statements_.end()) return found->second;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) !=
        SQLITE_OK)
        return failure(operation);
    if (stmt == nullptr) return make_error(fmt::format("database {}: {}: empty statement", file_.string(), operation));
    // $1..$n each present: a statement that skipped one would bind values to the wrong columns.
    bool numbered = static_cast<std::size_t>(sqlite3_bind_parameter_count(stmt)) == param_count;
    for (std::size_t i = 1; numbered && i <= param_count; ++i)
        numbered = sqlite3_bind_parameter_index(stmt, fmt::format("${}", i).c_str()) > 0;
    if (!numbered) {
        sqlite3_finalize(stmt);
        return make_error(fmt::format("database {}: {}: the statement's parameters are not $1..${}", file_.string(),
                                      operation, param_count));
    }
    statements_.emplace(key, stmt);
    return stmt;
}

expected<std::vector<sql_row>> sqlite_database::run(std::string_view operation, std::string_view sql,
                                                    std::span<const sql_value> params, bool want_rows) {
    auto stmt = prepared(operation, sql, params.size());
    if (!stmt) return stmt.error();
    sqlite3_stmt* s = *stmt;
    // Reset and unbound whatever happens: a cached statement left mid-step would hold a read lock.
    struct reset_guard {
        sqlite3_stmt* s;
        ~reset_guard() {
            sqlite3_reset(s);
            sqlite3_clear_bindings(s);
        }
    } guard{s};

    for (std::size_t i = 0; i < params.size(); ++i) {
        const int index = sqlite3_bind_parameter_index(s, fmt::format("${}", i + 1).c_str());
        const int rc = std::visit(
            [&](const auto& v) {
                using V = std::decay_t<decltype(v)>;
                if constexpr (std::is_same_v<V, std::nullptr_t>)
                    return sqlite3_bind_null(s, index);
                else if constexpr (std::is_same_v<V, std::int64_t>)
                    return sqlite3_bind_int64(s, index, v);
                else if constexpr (std::is_same_v<V, std::string>)
                    return sqlite3_bind_text64(s, index, v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8);
                // An empty blob bound from a null pointer would read back as NULL.
                else if (v.empty())
                    return sqlite3_bind_zeroblob(s, index, 0);
                else
                    return sqlite3_bind_blob64(s, index, v.data(), v.size(), SQLITE_STATIC);
            },
            params[i]);
        if (rc != SQLITE_OK) return failure(operation);
    }

    std::vector<sql_row> rows;
    for (;;) {
        const int rc = sqlite3_step(s);
        if (rc == SQLITE_DONE) break;
        if (rc != SQLITE_ROW) return failure(operation);
        if (!want_rows) continue;
        const int columns = sqlite3_column_count(s);
        sql_row row;
        row.reserve(static_cast<std::size_t>(columns));
        for (int c = 0; c < columns; ++c) {
            switch (sqlite3_column_type(s, c)) {
            case SQLITE_NULL:
                row.emplace_back(nullptr);
                break;
            case SQLITE_INTEGER:
                row.emplace_back(static_cast<std::int64_t>(sqlite3_column_int64(s, c)));
                break;
            case SQLITE_BLOB: {
                const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(s, c));
                row.emplace_back(p != nullptr ? byte_string(p, p + sqlite3_column_bytes(s, c)) : byte_string());
                break;
            }
            default: {  // TEXT, and a REAL nobody writes, read as its text
                const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, c));
                row.emplace_back(p != nullptr ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s, c)))
                                              : std::string());
                break;
            }
            }
        }
        rows.push_back(std::move(row));
    }
    return rows;
}

expected<std::vector<sql_row>> sqlite_database::query(std::string_view operation, std::string_view sql,
                                                      std::span<const sql_value> params) {
    return run(operation, sql, params, true);
}

expected<std::int64_t> sqlite_database::execute(std::string_view operation, std::string_view sql,
                                                std::span<const sql_value> params) {
    if (auto r = run(operation, sql, params, false); !r) return r.error();
    return static_cast<std::int64_t>(sqlite3_changes64(db_));
}

expected<void> sqlite_database::execute_script(std::string_view operation, std::string_view sql) {
    const std::string text(sql);
    if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) return failure(operation);
    return {};
}

void sqlite_database::rollback_if_open() {
    if (sqlite3_get_autocommit(db_) == 0) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

expected<void> sqlite_database::transaction(const transaction_body& body) {
    if (auto begun = execute_script("begin transaction", "BEGIN IMMEDIATE"); !begun) return begun.error();
    // Whatever way the body leaves (an error, an exception), an open transaction is rolled back.
    struct rollback_guard {
        sqlite_database* self;
        ~rollback_guard() { self->rollback_if_open(); }
    } guard{this};
    if (auto done = body(*this); !done) return done.error();
    if (auto committed = execute_script("commit", "COMMIT"); !committed) return committed.error();
    return {};
}

}  // namespace sessiond
