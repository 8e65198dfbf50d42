// The PostgreSQL engine against the binary's throwaway PostgreSQL 15 cluster: values round-trip in
// every column type the schema uses, errors never quote a value or a password, migrations run
// once when several daemons start together, the audit chain's head is one writer's at a time, and
// a connection the server ended is made again.

#include "sessiond/store/postgresql_database.hpp"
#include "sessiond/store/schema_migrations.hpp"

#include "store_test_support.hpp"

#include "support/pausable_proxy.hpp"

#include <array>
#include <limits>
#include <thread>

namespace sessiond {
namespace {

using namespace store_test;
using testing::postgres_cluster;
using namespace std::chrono_literals;

std::unique_ptr<postgresql_database> connect_ok(const std::string& conninfo) {
    auto db = postgresql_database::open(conninfo);
    if (!db) {
        ADD_FAILURE() << db.error().message;
        return nullptr;
    }
    return std::move(*db);
}

expected<std::vector<sql_row>> query_in_transaction(database& db, std::string_view sql,
                                                    std::span<const sql_value> params = {}) {
    std::vector<sql_row> out;
    auto done = db.transaction([&](sql_connection& c) -> expected<void> {
        auto rows = c.query("test", sql, params);
        if (!rows) return rows.error();
        out = std::move(*rows);
        return {};
    });
    if (!done) return done.error();
    return out;
}

TEST(store_postgresql_database, every_value_comes_back_as_it_was_bound) {
    auto db = connect_ok(postgres_cluster::shared().create_database());
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(db->transaction([](sql_connection& c) {
        return c.execute_script("test", engine_sql("CREATE TABLE t (i INTEGER, b BIGINT, s TEXT, x {blob})", c.words()));
    }));
    const std::vector<sql_row> rows{
        {std::int64_t{-7}, std::numeric_limits<std::int64_t>::min(), std::string("žluťoučký \"kůň\" ' ;"),
         byte_string{0x00, 0xff, 0x00, 0x5c}},
        {std::int64_t{2147483647}, std::numeric_limits<std::int64_t>::max(), std::string(), byte_string{}},
        {nullptr, nullptr, nullptr, nullptr},
    };
    auto wrote = db->transaction([&](sql_connection& c) -> expected<void> {
        for (const auto& row : rows) {
            if (auto r = c.execute("test", "INSERT INTO t (i, b, s, x) VALUES ($1, $2, $3, $4)", row); !r)
                return r.error();
            else if (*r != 1)
                return make_error("one row expected");
        }
        return {};
    });
    ASSERT_TRUE(wrote) << wrote.error().message;
    // Also a count (int8 from an aggregate) and an int4 compared with a bound integer.
    auto read = query_in_transaction(*db, "SELECT i, b, s, x FROM t ORDER BY b NULLS LAST");
    ASSERT_TRUE(read) << read.error().message;
    EXPECT_EQ(*read, rows);
    const std::array<sql_value, 1> minus_seven{std::int64_t{-7}};
    auto counted = query_in_transaction(*db, "SELECT COUNT(*) FROM t WHERE i = $1", minus_seven);
    ASSERT_TRUE(counted) << counted.error().message;
    EXPECT_EQ(*counted, (std::vector<sql_row>{{std::int64_t{1}}}));
}

TEST(store_postgresql_database, an_error_names_the_operation_and_the_reason_never_a_value) {
    auto db = connect_ok(postgres_cluster::shared().create_database());
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(db->transaction([](sql_connection& c) { return c.execute_script("test", "CREATE TABLE t (s TEXT UNIQUE)"); }));
    const std::array<sql_value, 1> value{std::string("a-value-nobody-may-read")};
    ASSERT_TRUE(db->transaction([&](sql_connection& c) -> expected<void> {
        if (auto r = c.execute("insert_value", "INSERT INTO t (s) VALUES ($1)", value); !r) return r.error();
        return {};
    }));
    auto again = db->transaction([&](sql_connection& c) -> expected<void> {
        if (auto r = c.execute("insert_value", "INSERT INTO t (s) VALUES ($1)", value); !r) return r.error();
        return {};
    });
    ASSERT_FALSE(again);
    const auto& message = again.error().message;
    EXPECT_NE(message.find("insert_value"), std::string::npos) << message;
    EXPECT_NE(message.find("23505"), std::string::npos) << message;  // unique_violation
    EXPECT_NE(message.find("duplicate key"), std::string::npos) << message;
    EXPECT_EQ(message.find("a-value-nobody-may-read"), std::string::npos) << message;
    // The failed transaction was rolled back: the connection serves the next one.
    auto count = query_in_transaction(*db, "SELECT COUNT(*) FROM t");
    ASSERT_TRUE(count) << count.error().message;
    EXPECT_EQ(*count, (std::vector<sql_row>{{std::int64_t{1}}}));
}

TEST(store_postgresql_database, a_body_that_goes_on_after_a_failed_statement_is_told_nothing_was_committed) {
    auto db = connect_ok(postgres_cluster::shared().create_database());
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(db->transaction([](sql_connection& c) { return c.execute_script("test", "CREATE TABLE t (s TEXT UNIQUE)"); }));
    // SQLite would keep the first insert; PostgreSQL aborts the whole transaction at the failure.
    auto swallowed = db->transaction([](sql_connection& c) -> expected<void> {
        const std::array<sql_value, 1> v{std::string("x")};
        if (auto r = c.execute("first", "INSERT INTO t (s) VALUES ($1)", v); !r) return r.error();
        (void)c.execute("again", "INSERT INTO t (s) VALUES ($1)", v);  // fails: unique
        return {};
    });
    ASSERT_FALSE(swallowed);
    EXPECT_NE(swallowed.error().message.find("rolled the transaction back"), std::string::npos) << swallowed.error().message;
    auto count = query_in_transaction(*db, "SELECT COUNT(*) FROM t");
    ASSERT_TRUE(count) << count.error().message;
    EXPECT_EQ(*count, (std::vector<sql_row>{{std::int64_t{0}}}));
}

TEST(store_postgresql_database, where_and_errors_name_the_server_never_the_password) {
    auto& cluster = postgres_cluster::shared();
    const std::string password = "pw-that-must-not-show";
    auto db = connect_ok(cluster.create_database() + " password=" + password);
    ASSERT_NE(db, nullptr);
    EXPECT_NE(db->where().find("sessiond_test@"), std::string::npos) << db->where();
    EXPECT_EQ(db->where().find(password), std::string::npos) << db->where();

    auto missing = postgresql_database::open(cluster.conninfo("no_such_database") + " password=" + password);
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message.find("no_such_database"), std::string::npos) << missing.error().message;
    EXPECT_EQ(missing.error().message.find(password), std::string::npos) << missing.error().message;
}

TEST(store_postgresql_database, migrations_run_once_when_several_daemons_start_together) {
    const std::string conninfo = postgres_cluster::shared().create_database();
    constexpr int daemons = 4;
    std::array<std::optional<std::string>, daemons> failures;
    std::vector<std::thread> starts;
    for (int i = 0; i < daemons; ++i) {
        starts.emplace_back([&, i] {
            asio::io_context io;
            auto opened = await_on(io, credential_store::open(credential_store::postgresql_opener(secret(conninfo))));
            if (!opened) failures[static_cast<std::size_t>(i)] = opened.error().message;
        });
    }
    for (auto& t : starts) t.join();
    for (const auto& f : failures) EXPECT_FALSE(f) << *f;

    auto db = connect_ok(conninfo);
    ASSERT_NE(db, nullptr);
    auto versions = query_in_transaction(*db, "SELECT version FROM schema_migrations ORDER BY version");
    ASSERT_TRUE(versions) << versions.error().message;
    std::vector<sql_row> expected_rows;
    for (const auto& m : store_migrations()) expected_rows.push_back({m.version});
    EXPECT_EQ(*versions, expected_rows);
}

TEST(store_postgresql_database, two_writers_append_to_one_audit_chain_without_a_gap_or_a_clash) {
    const std::string conninfo = postgres_cluster::shared().create_database();
    constexpr int writers = 2;
    constexpr int entries_each = 40;
    std::array<int, writers> failed{};
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w) {
        threads.emplace_back([&, w] {
            asio::io_context io;
            auto store = open_postgresql_store(io, conninfo);
            if (!store) return;
            for (int i = 0; i < entries_each; ++i) {
                // Read the head and append after it in one transaction, as audit_log does.
                auto append = [w](store_tx& tx) -> expected<void> {
                    auto head = tx.last_audit();
                    if (!head) return head.error();
                    audit_row a;
                    a.seq = *head ? (*head)->seq + 1 : 1;
                    a.actor = "writer-" + std::to_string(w);
                    a.source = a.action = a.target = a.outcome = "test";
                    a.details = "{}";
                    a.key_version = 1;
                    a.mac = {static_cast<std::uint8_t>(w)};
                    return tx.append_audit(a);
                };
                if (!await_on(io, store->transact(append))) ++failed[static_cast<std::size_t>(w)];
            }
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(failed, (std::array<int, writers>{}));

    auto db = connect_ok(conninfo);
    ASSERT_NE(db, nullptr);
    auto counted = query_in_transaction(*db, "SELECT COUNT(*), MIN(seq), MAX(seq) FROM audit_log");
    ASSERT_TRUE(counted) << counted.error().message;
    const std::int64_t total = writers * entries_each;
    EXPECT_EQ(*counted, (std::vector<sql_row>{{total, std::int64_t{1}, total}}));
}

TEST(store_postgresql_database, one_daemon_per_database_the_operators_commands_beside_it) {
    const std::string conninfo = postgres_cluster::shared().create_database();
    auto first = postgresql_database::open(conninfo, daemon_lock::alone);
    ASSERT_TRUE(first) << first.error().message;
    auto second = postgresql_database::open(conninfo, daemon_lock::alone, 0ms);  // not waited for: refused at once
    ASSERT_FALSE(second);
    EXPECT_NE(second.error().message.find("another ibkr-sessiond serves this database"), std::string::npos)
        << second.error().message;
    auto command = postgresql_database::open(conninfo);  // keys status, audit verify
    EXPECT_TRUE(command) << command.error().message;

    // The lock goes with the first daemon's connection; the next daemon, started at once, waits for
    // the server to finish closing it (as systemctl restart does), then holds it.
    first->reset();
    auto next = postgresql_database::open(conninfo, daemon_lock::alone);
    EXPECT_TRUE(next) << next.error().message;
}

TEST(store_postgresql_database, a_daemon_whose_connection_was_ended_takes_its_lock_again_or_writes_nothing) {
    auto& cluster = postgres_cluster::shared();
    const std::string conninfo = cluster.create_database();
    auto opened = postgresql_database::open(conninfo, daemon_lock::alone, 0ms);  // a refusal is not waited for
    ASSERT_TRUE(opened) << opened.error().message;
    auto& db = **opened;
    const auto end_backends = [&] {
        // With a timeout, pg_terminate_backend waits until the backend has exited (and its
        // session-level lock is gone); without, it only sends the signal (CI lost that race once).
        cluster.execute(conninfo, "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE application_name = "
                                  "'ibkr-sessiond' AND pid <> pg_backend_pid()");
    };
    // Ended, nobody else there: the next transaction connects again and holds the lock again.
    end_backends();
    ASSERT_TRUE(query_in_transaction(db, "SELECT 1::bigint"));
    EXPECT_FALSE(postgresql_database::open(conninfo, daemon_lock::alone, 0ms)) << "the lock was taken again";

    // Ended, and another daemon started meanwhile: this one refuses every call, saying why.
    end_backends();
    auto other = postgresql_database::open(conninfo, daemon_lock::alone);
    ASSERT_TRUE(other) << other.error().message;
    auto refused = query_in_transaction(db, "SELECT 1::bigint");
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message.find("another ibkr-sessiond serves this database"), std::string::npos)
        << refused.error().message;
}

TEST(store_postgresql_database, a_connection_the_server_ended_is_made_again_when_the_next_transaction_begins) {
    const std::string conninfo = postgres_cluster::shared().create_database();
    auto db = connect_ok(conninfo);
    ASSERT_NE(db, nullptr);
    auto pid = query_in_transaction(*db, "SELECT pg_backend_pid()::bigint");
    ASSERT_TRUE(pid) << pid.error().message;
    const auto backend = std::get<std::int64_t>(pid->at(0).at(0));
    // Waits until the backend has exited (the timeout's form), so the next call finds it gone.
    postgres_cluster::shared().execute(conninfo, "SELECT pg_terminate_backend(" + std::to_string(backend) + ", 10000)");

    // The transaction finds the connection gone when it begins, before it did anything: it
    // connects again and goes on.
    auto again = query_in_transaction(*db, "SELECT pg_backend_pid()::bigint");
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_NE(std::get<std::int64_t>(again->at(0).at(0)), backend);
}

// A partition behind a proxy: the connection stays open, and nothing comes back. The statement fails
// once its answer is overdue (the database thread is not held until the partition ends), and the
// connection is made again at the next transaction once the network is back.
TEST(store_postgresql_database, a_statement_unanswered_in_time_fails_and_the_connection_is_made_again) {
    postgres_cluster& pg = postgres_cluster::shared();
    const std::string conninfo = pg.create_database();
    testing::pausable_proxy proxy(pg.socket_path());
    const std::string through_proxy = "host=127.0.0.1 port=" + std::to_string(proxy.port()) +
                                      conninfo.substr(conninfo.find(" user="));
    auto opened = postgresql_database::open(through_proxy, daemon_lock::none, 0ms, 1s);
    ASSERT_TRUE(opened) << opened.error().message;
    auto& db = **opened;
    ASSERT_TRUE(query_in_transaction(db, "SELECT 1::bigint"));

    proxy.pause();
    auto lost = query_in_transaction(db, "SELECT 2::bigint");
    ASSERT_FALSE(lost);
    EXPECT_NE(lost.error().message.find("no answer within 1 s"), std::string::npos) << lost.error().message;
    EXPECT_NE(lost.error().message.find("postgresql "), std::string::npos) << "names the server: " << lost.error().message;

    proxy.resume();
    auto back = query_in_transaction(db, "SELECT 3::bigint");
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(std::get<std::int64_t>(back->at(0).at(0)), 3);
    EXPECT_EQ(proxy.accepted(), 2u) << "the connection given up was made again";
}

}  // namespace
}  // namespace sessiond
