#pragma once
// A store on a real database, and its calls awaited on the test's own loop: a SQLite file in a
// temporary directory, or (each_engine) a fresh database of the binary's throwaway PostgreSQL 15
// cluster as well.

#include "sessiond/store/credential_store.hpp"
#include "support/postgres_cluster.hpp"
#include "support/temp_dir.hpp"

#include <sqlite3.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <exception>
#include <optional>
#include <string>
#include <vector>

namespace sessiond::store_test {

namespace asio = boost::asio;

// Runs the loop until `a` has finished; its result.
template <class T>
T await_on(asio::io_context& io, asio::awaitable<T> a) {
    std::optional<T> out;
    asio::co_spawn(io, std::move(a), [&out](std::exception_ptr e, T v) {
        if (e) std::rethrow_exception(e);
        out.emplace(std::move(v));
    });
    io.restart();
    io.run();
    return std::move(*out);
}

inline std::unique_ptr<credential_store> open_store(asio::io_context& io, const std::filesystem::path& file) {
    auto opened = await_on(io, credential_store::open_sqlite(file));
    if (!opened) {
        ADD_FAILURE() << opened.error().message;
        return nullptr;
    }
    return std::move(*opened);
}

inline std::unique_ptr<credential_store> open_postgresql_store(asio::io_context& io, const std::string& conninfo) {
    auto opened = await_on(io, credential_store::open(credential_store::postgresql_opener(secret(conninfo))));
    if (!opened) {
        ADD_FAILURE() << opened.error().message;
        return nullptr;
    }
    return std::move(*opened);
}

enum class store_engine { sqlite, postgresql };

inline std::string engine_name(const ::testing::TestParamInfo<store_engine>& info) {
    return info.param == store_engine::sqlite ? "sqlite" : "postgresql";
}
// How GoogleTest prints the parameter (ctest's test names): the engine, not its bytes.
inline void PrintTo(store_engine engine, std::ostream* os) { *os << (engine == store_engine::sqlite ? "sqlite" : "postgresql"); }

class store_fixture : public ::testing::Test {
protected:
    void SetUp() override {
        if (engine() == store_engine::postgresql) {
            conninfo = testing::postgres_cluster::shared().create_database();
            store = open_postgresql_store(io, conninfo);
        } else {
            store = open_store(io, file());
        }
        ASSERT_NE(store, nullptr);
    }

    [[nodiscard]] virtual store_engine engine() const { return store_engine::sqlite; }

    [[nodiscard]] std::filesystem::path file() const { return dir.path() / "sessiond.db"; }

    template <class F>
    auto transact(F fn) {
        return await_on(io, store->transact(std::move(fn)));
    }

    // The user's credential as stored now; a failure when there is none.
    credential_row stored_credential(const std::string& user_id) {
        auto found = transact([user_id](store_tx& tx) { return tx.find_credential(user_id); });
        EXPECT_TRUE(found && *found) << "no credential for " << user_id;
        return found && *found ? **found : credential_row{};
    }

    // Every audit entry, in seq order.
    std::vector<audit_row> stored_audit_log() {
        auto rows = transact([](store_tx& tx) { return tx.audit_all(0, 100000); });
        EXPECT_TRUE(rows) << (rows ? "" : rows.error().message);
        return rows ? *rows : std::vector<audit_row>{};
    }

    // What someone with write access to the database does behind the daemon's back.
    void tamper(const std::string& sql) const {
        if (engine() == store_engine::postgresql) {
            testing::postgres_cluster::shared().execute(conninfo, sql);
            return;
        }
        sqlite3* db = nullptr;
        ASSERT_EQ(sqlite3_open(file().c_str(), &db), SQLITE_OK);
        char* message = nullptr;
        EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message), SQLITE_OK) << (message ? message : "");
        sqlite3_free(message);
        sqlite3_close(db);
    }

    testing::temp_dir dir;
    std::string conninfo;  // the test's PostgreSQL database, when that is the engine
    asio::io_context io;
    std::unique_ptr<credential_store> store;  // destroyed before the loop, as it must be
};

// The same tests on every engine: TEST_P, and INSTANTIATE_TEST_SUITE_P(engines, suite,
// each_engine::all, engine_name).
class each_engine : public store_fixture, public ::testing::WithParamInterface<store_engine> {
public:
    inline static const auto all = ::testing::Values(store_engine::sqlite, store_engine::postgresql);

protected:
    [[nodiscard]] store_engine engine() const override { return GetParam(); }
};

inline credential_row credential_for(std::string user_id, std::int64_t key_version = 1) {
    credential_row c;
    c.user_id = user_id;
    c.credential_id = "cred-" + user_id;
    c.client_id = "client";
    c.client_key_id = "kid";
    c.username = "ibkr-" + user_id;
    c.account_id = "U123";
    c.allowed_ip = "203.0.113.7";
    c.environment = "live";
    c.key_fingerprint = "sha256:ab";
    c.key_record = {0x00, 0x01, 0xff, 0x00, 0x7f};  // bytes, zeros included: not text
    c.key_version = key_version;
    c.etag = "etag-1";
    c.created_ms = 1000;
    c.updated_ms = 1000;
    return c;
}

inline user_row user(std::string id, std::int64_t created_ms = 1000) {
    user_row u;
    u.id = std::move(id);
    u.created_ms = created_ms;
    return u;
}

}  // namespace sessiond::store_test
