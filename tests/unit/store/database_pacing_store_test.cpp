// The pacing record in the database: what the file store does, in the pacing table.

#include "sessiond/store/database_pacing_store.hpp"

#include "store_test_support.hpp"

#include <chrono>

namespace sessiond {
namespace {

using namespace store_test;
using namespace std::chrono_literals;

class store_pacing : public store_fixture {};

TEST_F(store_pacing, reads_back_the_record_it_saved) {
    database_pacing_store pacing(*store, "ibkr-user");
    const login_budget_settings limits{};
    const wall_time now = std::chrono::system_clock::now();

    auto empty = await_on(io, pacing.load(limits, now));
    ASSERT_TRUE(empty.record) << empty.record.error().message;
    EXPECT_FALSE(*empty.record);

    persisted_pacing record{login_budget(limits), now - 5s};
    record.logins.record(now - 10s);
    auto saved = await_on(io, pacing.save(record));
    ASSERT_TRUE(saved) << saved.error().message;

    auto loaded = await_on(io, pacing.load(limits, now));
    ASSERT_TRUE(loaded.record) << loaded.record.error().message;
    ASSERT_TRUE(*loaded.record);
    EXPECT_EQ((*loaded.record)->logins.recent().size(), 1u);
    EXPECT_TRUE((*loaded.record)->last_validate);

    database_pacing_store other(*store, "other-user");
    auto others = await_on(io, other.load(limits, now));
    ASSERT_TRUE(others.record);
    EXPECT_FALSE(*others.record);
}

TEST_F(store_pacing, names_the_database_never_the_username) {
    database_pacing_store pacing(*store, "ibkr-user");
    EXPECT_NE(pacing.where().find(file().string()), std::string::npos) << pacing.where();
    EXPECT_EQ(pacing.where().find("ibkr-user"), std::string::npos) << pacing.where();
}

TEST_F(store_pacing, a_malformed_record_is_an_error_not_a_guess) {
    auto corrupt = [](store_tx& tx) { return tx.save_pacing("ibkr-user", "not a pacing record\n", 1, std::nullopt); };
    ASSERT_TRUE(transact(std::move(corrupt)));
    database_pacing_store pacing(*store, "ibkr-user");
    auto loaded = await_on(io, pacing.load({}, std::chrono::system_clock::now()));
    EXPECT_FALSE(loaded.record);
}

TEST_F(store_pacing, a_replica_without_the_users_lease_writes_nothing_and_says_why) {
    database_pacing_store pacing(*store, "ibkr-user", [] { return std::optional<lease_fence>{}; });
    const wall_time now = std::chrono::system_clock::now();
    auto saved = await_on(io, pacing.save(persisted_pacing{login_budget({}), now}));
    ASSERT_FALSE(saved);
    EXPECT_NE(saved.error().message.find("holds no lease on the user"), std::string::npos) << saved.error().message;
    EXPECT_EQ(saved.error().message.find("ibkr-user"), std::string::npos) << "never the username";
    auto loaded = await_on(io, pacing.load({}, now));
    ASSERT_TRUE(loaded.record);
    EXPECT_FALSE(*loaded.record) << "nothing written";
}

}  // namespace
}  // namespace sessiond
