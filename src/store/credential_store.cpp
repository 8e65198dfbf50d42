#include "sessiond/store/credential_store.hpp"

#include "sessiond/store/postgresql_database.hpp"
#include "sessiond/store/schema_migrations.hpp"
#include "sessiond/store/sqlite_database.hpp"
#include "sql_store_tx.hpp"

#include <boost/asio/post.hpp>

#include <fmt/format.h>

#include <chrono>

namespace sessiond {

namespace asio = boost::asio;

credential_store::credential_store() = default;

credential_store::~credential_store() {
    // Queued behind everything already posted (one thread, in order): what callers asked for is
    // done, and the connection closed on the thread that used it.
    asio::post(pool_, [this] { database_.reset(); });
    pool_.join();
}

expected<void> credential_store::run_transaction(database& db, const std::function<expected<void>(store_tx&)>& fn) {
    return db.transaction([&fn](sql_connection& sql) {
        sql_store_tx tx(sql);
        return fn(tx);
    });
}

asio::awaitable<expected<std::unique_ptr<credential_store>>> credential_store::open(database_opener opener) {
    std::unique_ptr<credential_store> store(new credential_store());
    const auto now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    auto start = [opener = std::move(opener), now_ms]() -> expected<std::unique_ptr<database>> {
        auto db = opener();
        if (!db) return db.error();
        auto migrated = (*db)->transaction([now_ms](sql_connection& sql) -> expected<void> {
            auto applied = apply_migrations(sql, store_migrations(), now_ms);
            if (!applied) return applied.error();
            return {};
        });
        if (!migrated) return make_error(fmt::format("database {}: {}", (*db)->where(), migrated.error().message));
        return std::move(*db);
    };
    auto opened = co_await store->thread_.run(std::move(start));
    if (!opened) co_return opened.error();
    store->where_ = (*opened)->where();
    // Set here, read only by jobs posted after this: the post orders it before them.
    store->database_ = std::move(*opened);
    co_return std::move(store);
}

asio::awaitable<expected<std::unique_ptr<credential_store>>> credential_store::open_sqlite(std::filesystem::path file) {
    co_return co_await open(sqlite_opener(std::move(file)));
}

credential_store::database_opener credential_store::sqlite_opener(std::filesystem::path file) {
    return [file = std::move(file)]() -> expected<std::unique_ptr<database>> {
        auto db = sqlite_database::open(file);
        if (!db) return db.error();
        return std::unique_ptr<database>(std::move(*db));
    };
}

credential_store::database_opener credential_store::postgresql_opener(secret conninfo, daemon_lock lock) {
    return [conninfo = std::move(conninfo), lock]() -> expected<std::unique_ptr<database>> {
        auto db = postgresql_database::open(std::string(conninfo.reveal()), lock);
        if (!db) return db.error();
        return std::unique_ptr<database>(std::move(*db));
    };
}

}  // namespace sessiond
