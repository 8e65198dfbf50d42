// The SQLite engine on real files: the pragmas the store relies on are in effect, the file is
// private, and a transaction is all or nothing.

#include "sessiond/store/sqlite_database.hpp"

#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <array>
#include <filesystem>

#include <sys/stat.h>

namespace sessiond {
namespace {

unsigned mode_of(const std::filesystem::path& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st.st_mode & 07777;
}

std::unique_ptr<sqlite_database> open_ok(const std::filesystem::path& file) {
    auto db = sqlite_database::open(file);
    if (!db) {
        ADD_FAILURE() << db.error().message;
        return nullptr;
    }
    return std::move(*db);
}

// The single value of a one-row, one-column query, run in a transaction of `db`.
sql_value single(database& db, std::string_view sql, std::span<const sql_value> params = {}) {
    sql_value out;
    auto done = db.transaction([&](sql_connection& c) -> expected<void> {
        auto rows = c.query("test", sql, params);
        if (!rows) return rows.error();
        if (rows->size() != 1 || rows->front().size() != 1) return make_error("not one value");
        out = rows->front().front();
        return {};
    });
    EXPECT_TRUE(done) << done.error().message;
    return out;
}

TEST(store_sqlite_database, runs_in_wal_with_synchronous_full_foreign_keys_and_a_busy_timeout) {
    testing::temp_dir dir;
    auto db = open_ok(dir.path() / "sessiond.db");
    ASSERT_NE(db, nullptr);
    EXPECT_EQ(single(*db, "PRAGMA journal_mode"), sql_value(std::string("wal")));
    EXPECT_EQ(single(*db, "PRAGMA synchronous"), sql_value(std::int64_t{2}));  // FULL
    EXPECT_EQ(single(*db, "PRAGMA foreign_keys"), sql_value(std::int64_t{1}));
    EXPECT_EQ(single(*db, "PRAGMA busy_timeout"), sql_value(std::int64_t{sqlite_database::busy_timeout_ms}));
}

TEST(store_sqlite_database, creates_the_file_and_its_journal_private) {
    testing::temp_dir dir;
    const auto file = dir.path() / "sessiond.db";
    auto db = open_ok(file);
    ASSERT_NE(db, nullptr);
    auto wrote = db->transaction([](sql_connection& c) { return c.execute_script("test", "CREATE TABLE t (x INTEGER)"); });
    ASSERT_TRUE(wrote) << wrote.error().message;
    EXPECT_EQ(mode_of(file), 0600u);
    EXPECT_EQ(mode_of(file.string() + "-wal"), 0600u);
    EXPECT_EQ(mode_of(file.string() + "-shm"), 0600u);
}

TEST(store_sqlite_database, narrows_an_existing_file_to_0600) {
    testing::temp_dir dir;
    const auto file = dir.write("sessiond.db", "");
    std::filesystem::permissions(file, std::filesystem::perms(0644));
    ASSERT_NE(open_ok(file), nullptr);
    EXPECT_EQ(mode_of(file), 0600u);
}

TEST(store_sqlite_database, refuses_a_directory_that_does_not_exist_naming_the_file) {
    testing::temp_dir dir;
    const auto file = dir.path() / "missing" / "sessiond.db";
    auto db = sqlite_database::open(file);
    ASSERT_FALSE(db);
    EXPECT_NE(db.error().message.find(file.string()), std::string::npos) << db.error().message;
    EXPECT_FALSE(std::filesystem::exists(file.parent_path()));
}

TEST(store_sqlite_database, refuses_a_file_where_wal_does_not_take_naming_it) {
    testing::temp_dir dir;
    const auto file = dir.path() / "sessiond.db";
    // SQLite's dot-file locking offers no shared memory, as some network filesystems do not.
    auto db = sqlite_database::open(file, "unix-dotfile");
    ASSERT_FALSE(db);
    EXPECT_NE(db.error().message.find("WAL"), std::string::npos) << db.error().message;
    EXPECT_NE(db.error().message.find(file.string()), std::string::npos) << db.error().message;
}

TEST(store_sqlite_database, a_failing_body_rolls_back_what_it_wrote) {
    testing::temp_dir dir;
    auto db = open_ok(dir.path() / "sessiond.db");
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(db->transaction([](sql_connection& c) { return c.execute_script("test", "CREATE TABLE t (x TEXT)"); }));
    auto failed = db->transaction([](sql_connection& c) -> expected<void> {
        const std::array<sql_value, 1> p{std::string("written")};
        if (auto r = c.execute("test", "INSERT INTO t (x) VALUES ($1)", p); !r) return r.error();
        return make_error("the body failed after writing");
    });
    ASSERT_FALSE(failed);
    EXPECT_EQ(failed.error().message, "the body failed after writing");
    EXPECT_EQ(single(*db, "SELECT COUNT(*) FROM t"), sql_value(std::int64_t{0}));
}

TEST(store_sqlite_database, values_are_bound_never_read_as_sql) {
    testing::temp_dir dir;
    auto db = open_ok(dir.path() / "sessiond.db");
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(db->transaction([](sql_connection& c) { return c.execute_script("test", "CREATE TABLE t (x TEXT, b BLOB)"); }));
    const std::string hostile = "x'); DROP TABLE t; --";
    auto wrote = db->transaction([&](sql_connection& c) -> expected<void> {
        const std::array<sql_value, 2> p{hostile, byte_string{}};
        if (auto r = c.execute("test", "INSERT INTO t (x, b) VALUES ($1, $2)", p); !r) return r.error();
        return {};
    });
    ASSERT_TRUE(wrote) << wrote.error().message;
    EXPECT_EQ(single(*db, "SELECT x FROM t"), sql_value(hostile));
    // An empty byte string stays one, not NULL.
    EXPECT_EQ(single(*db, "SELECT b FROM t"), sql_value(byte_string{}));
}

TEST(store_sqlite_database, a_statement_whose_parameters_are_not_numbered_in_order_is_refused) {
    testing::temp_dir dir;
    auto db = open_ok(dir.path() / "sessiond.db");
    ASSERT_NE(db, nullptr);
    auto r = db->transaction([](sql_connection& c) -> expected<void> {
        const std::array<sql_value, 2> p{std::int64_t{1}, std::int64_t{2}};
        if (auto rows = c.query("test", "SELECT $1 + $3", p); !rows) return rows.error();
        return {};
    });
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("$1..$2"), std::string::npos) << r.error().message;
}

TEST(store_sqlite_database, substitutes_the_engines_words_for_the_placeholders) {
    const engine_words words{"BYTEA", "clock()", "FOR UPDATE", "FOR SHARE", ""};
    EXPECT_EQ(engine_sql("a {blob}, b {blob} NOT NULL", words), "a BYTEA, b BYTEA NOT NULL");
    EXPECT_EQ(engine_sql("no bytes", words), "no bytes");
    EXPECT_EQ(engine_sql("WHERE t <= {now_ms} {skip_locked} {other}", words), "WHERE t <= clock() FOR UPDATE {other}");
    EXPECT_EQ(engine_sql("WHERE t <= {now_ms} {for_share}", words), "WHERE t <= clock() FOR SHARE");
}

}  // namespace
}  // namespace sessiond
