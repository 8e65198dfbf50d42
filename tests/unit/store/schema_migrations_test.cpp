// Migrations on real files: each applied exactly once, however often the file is opened, and a
// schema newer than the binary refused.

#include "sessiond/store/schema_migrations.hpp"
#include "sessiond/store/sqlite_database.hpp"

#include "store_test_support.hpp"

#include <array>

namespace sessiond {
namespace {

using namespace store_test;

std::int64_t recorded_migrations(const std::filesystem::path& file) {
    auto db = sqlite_database::open(file);
    EXPECT_TRUE(db);
    std::int64_t count = -1;
    auto r = (*db)->transaction([&](sql_connection& c) -> expected<void> {
        auto rows = c.query("test", "SELECT COUNT(*) FROM schema_migrations", {});
        if (!rows) return rows.error();
        count = std::get<std::int64_t>(rows->at(0).at(0));
        return {};
    });
    EXPECT_TRUE(r) << r.error().message;
    return count;
}

TEST(store_migrations, are_applied_once_however_often_the_file_is_opened) {
    testing::temp_dir dir;
    asio::io_context io;
    const auto file = dir.path() / "sessiond.db";
    ASSERT_NE(open_store(io, file), nullptr);
    ASSERT_NE(open_store(io, file), nullptr);
    EXPECT_EQ(recorded_migrations(file), static_cast<std::int64_t>(store_migrations().size()));

    auto db = sqlite_database::open(file);
    ASSERT_TRUE(db);
    auto again = (*db)->transaction([](sql_connection& c) -> expected<void> {
        auto applied = apply_migrations(c, store_migrations(), 0);
        if (!applied) return applied.error();
        if (*applied != 0) return make_error("applied again");
        return {};
    });
    EXPECT_TRUE(again) << again.error().message;
}

TEST(store_migrations, two_stores_on_one_file_one_after_the_other_apply_nothing_the_second_time) {
    testing::temp_dir dir;
    asio::io_context io;
    const auto file = dir.path() / "sessiond.db";
    auto first = open_store(io, file);
    ASSERT_NE(first, nullptr);
    auto second = open_store(io, file);  // the first still open
    ASSERT_NE(second, nullptr);
    EXPECT_EQ(recorded_migrations(file), static_cast<std::int64_t>(store_migrations().size()));
}

TEST(store_migrations, a_schema_newer_than_the_binary_is_refused_naming_both_versions) {
    testing::temp_dir dir;
    asio::io_context io;
    const auto file = dir.path() / "sessiond.db";
    ASSERT_NE(open_store(io, file), nullptr);
    {
        auto db = sqlite_database::open(file);
        ASSERT_TRUE(db);
        auto r = (*db)->transaction([](sql_connection& c) -> expected<void> {
            const std::array<sql_value, 2> p{std::int64_t{99}, std::int64_t{0}};
            if (auto w = c.execute("test", "INSERT INTO schema_migrations (version, applied_at_ms) VALUES ($1, $2)", p); !w)
                return w.error();
            return {};
        });
        ASSERT_TRUE(r) << r.error().message;
    }
    auto opened = await_on(io, credential_store::open_sqlite(file));
    ASSERT_FALSE(opened);
    const auto& message = opened.error().message;
    EXPECT_NE(message.find("version 99"), std::string::npos) << message;
    EXPECT_NE(message.find("binary's " + std::to_string(store_migrations().back().version)), std::string::npos) << message;
    EXPECT_NE(message.find(file.string()), std::string::npos) << message;
}

TEST(store_migrations, are_numbered_from_one_without_a_gap) {
    std::int64_t expected_version = 1;
    for (const auto& m : store_migrations()) EXPECT_EQ(m.version, expected_version++);
}

}  // namespace
}  // namespace sessiond
