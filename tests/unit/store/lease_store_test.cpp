// The leases of replicas sharing one database (issue 13), on both engines: who holds which user's
// session, until when by the database's clock, and with which fencing token. Expiry is tested with
// leases made already expired (a TTL of 0), never by waiting.

#include "store_test_support.hpp"

#include <array>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace sessiond {
namespace {

using namespace store_test;

class store_leases : public each_engine {
protected:
    void add_users(int count) {
        auto add = [count](store_tx& tx) -> expected<void> {
            for (int i = 0; i < count; ++i) {
                const std::string id = "u" + std::to_string(1000 + i);
                if (auto r = tx.insert_user(user(id)); !r) return r;
                if (auto r = tx.put_credential(credential_for(id)); !r) return r;
            }
            return {};
        };
        auto r = transact(std::move(add));
        ASSERT_TRUE(r) << r.error().message;
    }
    std::vector<lease_row> claim(std::string replica, std::size_t limit, std::int64_t ttl_ms = 60000) {
        auto r = transact([replica, limit, ttl_ms](store_tx& tx) { return tx.claim_leases(replica, limit, ttl_ms); });
        EXPECT_TRUE(r) << r.error().message;
        return r ? *r : std::vector<lease_row>{};
    }
    std::vector<lease_row> renew(std::string replica, std::int64_t ttl_ms = 60000) {
        auto r = transact([replica, ttl_ms](store_tx& tx) { return tx.renew_leases(replica, ttl_ms); });
        EXPECT_TRUE(r) << r.error().message;
        return r ? *r : std::vector<lease_row>{};
    }
    bool release(std::string replica, lease_row lease) {
        auto r = transact([replica, lease](store_tx& tx) { return tx.release_lease(replica, lease); });
        EXPECT_TRUE(r) << r.error().message;
        return r && *r;
    }
    static std::vector<std::string> ids(const std::vector<lease_row>& leases) {
        std::vector<std::string> out;
        for (const auto& l : leases) out.push_back(l.user_id);
        return out;
    }
};

TEST_P(store_leases, each_user_is_claimed_once_in_id_order_up_to_the_limit) {
    add_users(5);
    const auto first = claim("replica-a", 3);
    EXPECT_EQ(ids(first), (std::vector<std::string>{"u1000", "u1001", "u1002"}));
    for (const auto& l : first) EXPECT_EQ(l.fencing, 1) << l.user_id;
    const auto rest = claim("replica-b", 10);
    EXPECT_EQ(ids(rest), (std::vector<std::string>{"u1003", "u1004"}));
    EXPECT_TRUE(claim("replica-c", 10).empty()) << "every lease is held and none expired";
}

TEST_P(store_leases, an_expired_lease_is_taken_over_with_a_higher_fencing_token_and_lost_to_its_old_holder) {
    add_users(1);
    const auto held = claim("replica-a", 10, 0);  // expires at once, by the database's clock
    ASSERT_EQ(held.size(), 1u);
    const auto taken = claim("replica-b", 10);
    ASSERT_EQ(taken.size(), 1u);
    EXPECT_EQ(taken[0].user_id, "u1000");
    EXPECT_GT(taken[0].fencing, held[0].fencing);

    EXPECT_TRUE(renew("replica-a").empty()) << "the old holder renews nothing: its lease is lost";
    EXPECT_FALSE(release("replica-a", held[0])) << "nor can it release what it no longer holds";
    EXPECT_EQ(ids(renew("replica-b")), std::vector<std::string>{"u1000"});
}

TEST_P(store_leases, renewing_extends_only_the_replicas_own_unexpired_leases) {
    add_users(3);
    const auto a = claim("replica-a", 2);
    const auto b = claim("replica-b", 1);
    const auto renewed = renew("replica-a", 120000);
    ASSERT_EQ(ids(renewed), ids(a));
    for (std::size_t i = 0; i < a.size(); ++i) {
        EXPECT_GT(renewed[i].expires_ms, a[i].expires_ms) << "from now, by the database's clock";
        EXPECT_EQ(renewed[i].fencing, a[i].fencing) << "a renewal is no take-over";
    }
    EXPECT_EQ(ids(renew("replica-b")), ids(b));
}

TEST_P(store_leases, a_released_lease_is_free_at_once_for_another_replica) {
    add_users(2);
    const auto a = claim("replica-a", 2);
    ASSERT_EQ(a.size(), 2u);
    EXPECT_TRUE(release("replica-a", a[1]));
    const auto b = claim("replica-b", 10);
    ASSERT_EQ(ids(b), std::vector<std::string>{"u1001"});
    EXPECT_EQ(b[0].fencing, a[1].fencing + 1);
    EXPECT_EQ(ids(renew("replica-a")), std::vector<std::string>{"u1000"});
}

TEST_P(store_leases, a_deleted_credential_takes_its_lease_with_it_and_a_new_one_gets_a_free_lease) {
    add_users(2);
    ASSERT_EQ(claim("replica-a", 10).size(), 2u);
    auto remove = [](store_tx& tx) { return tx.delete_credential("u1000"); };
    ASSERT_TRUE(transact(std::move(remove)));
    EXPECT_EQ(ids(renew("replica-a")), std::vector<std::string>{"u1001"});
    EXPECT_TRUE(claim("replica-b", 10).empty()) << "a user without a credential has no session to hold";

    auto put_again = [](store_tx& tx) { return tx.put_credential(credential_for("u1000")); };
    ASSERT_TRUE(transact(std::move(put_again)));
    const auto b = claim("replica-b", 10);
    ASSERT_EQ(ids(b), std::vector<std::string>{"u1000"});
    EXPECT_EQ(b[0].fencing, 1) << "a new lease";
}

TEST_P(store_leases, live_replicas_are_those_whose_heartbeat_is_recent_by_the_databases_clock) {
    for (const char* replica : {"replica-a", "replica-b", "replica-a"}) {
        auto beat = [replica](store_tx& tx) { return tx.heartbeat(replica, false); };
        ASSERT_TRUE(transact(std::move(beat)));
    }
    auto within_a_minute = [](store_tx& tx) { return tx.live_replicas(60000); };
    EXPECT_EQ(transact(std::move(within_a_minute)).value(), 2);
    auto within_nothing = [](store_tx& tx) { return tx.live_replicas(0); };
    EXPECT_EQ(transact(std::move(within_nothing)).value(), 0);
    auto others_than_a = [](store_tx& tx) { return tx.live_replicas(60000, "replica-a"); };
    EXPECT_EQ(transact(std::move(others_than_a)).value(), 1);
    // A replica stopping gracefully is not counted from then on.
    auto b_leaves = [](store_tx& tx) { return tx.leave("replica-b"); };
    ASSERT_TRUE(transact(std::move(b_leaves)));
    auto after = [](store_tx& tx) { return tx.live_replicas(60000); };
    EXPECT_EQ(transact(std::move(after)).value(), 1);
}

TEST_P(store_leases, a_pacing_record_is_written_under_a_lease_only_while_it_holds_with_that_fencing_token) {
    add_users(1);
    const std::string username = credential_for("u1000").username;
    const auto save = [this, username](std::string holder, lease_row lease, std::string record) {
        auto write = [username, holder, lease, record](store_tx& tx) {
            return tx.save_pacing(username, record, 1, lease_fence{holder, lease});
        };
        return transact(std::move(write));
    };
    const auto load = [this, username] {
        auto read = [username](store_tx& tx) { return tx.load_pacing(username); };
        return transact(std::move(read)).value().value_or("");
    };
    const auto a = claim("replica-a", 1, 0);  // expires at once, by the database's clock
    ASSERT_EQ(a.size(), 1u);
    const auto expired = save("replica-a", a[0], "sessiond-pacing 1\nlogin 1\n");
    ASSERT_FALSE(expired) << "an expired lease writes nothing";
    EXPECT_NE(expired.error().message.find("no longer holds the user's lease with fencing token 1"), std::string::npos)
        << expired.error().message;
    EXPECT_EQ(load(), "");

    const auto b = claim("replica-b", 1);
    ASSERT_EQ(b.size(), 1u);
    ASSERT_TRUE(save("replica-b", b[0], "sessiond-pacing 1\nlogin 2\n"));
    EXPECT_FALSE(save("replica-a", b[0], "sessiond-pacing 1\nlogin 3\n")) << "another replica's lease";
    lease_row stale = b[0];
    stale.fencing = a[0].fencing;
    EXPECT_FALSE(save("replica-b", stale, "sessiond-pacing 1\nlogin 4\n")) << "an older fencing token";
    EXPECT_EQ(load(), "sessiond-pacing 1\nlogin 2\n") << "only the holder's write, with its token, is there";
}

TEST_P(store_leases, a_replicas_started_time_is_its_latest_processs_first_heartbeat) {
    const auto started = [this] {
        auto read = [](store_tx& tx) { return tx.census(); };
        const auto census = transact(std::move(read)).value();
        return census.replicas.at(0).started_ms;
    };
    const auto beat = [this](bool starting) {
        auto write = [starting](store_tx& tx) { return tx.heartbeat("replica-a", starting); };
        ASSERT_TRUE(transact(std::move(write)));
    };
    beat(true);
    const auto first = started();
    // The database's clock moves on (milliseconds): wait for it, not for a duration.
    auto later = [first](store_tx& tx) -> expected<bool> {
        auto now = tx.census();
        if (!now) return now.error();
        return now->now_ms > first;
    };
    while (!transact(later).value()) std::this_thread::yield();
    beat(false);
    EXPECT_EQ(started(), first) << "a heartbeat of the same process";
    beat(true);
    EXPECT_GT(started(), first) << "the process started again";
}

INSTANTIATE_TEST_SUITE_P(engines, store_leases, each_engine::all, engine_name);

// Several replicas claiming at once on PostgreSQL: rows another claimer holds locked are skipped,
// so the users split between them and nobody gets a user twice.
TEST(store_leases_on_postgresql, replicas_claiming_together_split_the_users_without_overlap) {
    const std::string conninfo = testing::postgres_cluster::shared().create_database();
    {
        asio::io_context io;
        auto store = open_postgresql_store(io, conninfo);
        ASSERT_NE(store, nullptr);
        auto add = [](store_tx& tx) -> expected<void> {
            for (int i = 0; i < 300; ++i) {
                const std::string id = "u" + std::to_string(1000 + i);
                if (auto r = tx.insert_user(user(id)); !r) return r;
                if (auto r = tx.put_credential(credential_for(id)); !r) return r;
            }
            return {};
        };
        ASSERT_TRUE(await_on(io, store->transact(std::move(add))));
    }
    constexpr int replicas = 3;
    std::array<std::vector<std::string>, replicas> claimed;
    std::vector<std::thread> threads;
    for (int r = 0; r < replicas; ++r) {
        threads.emplace_back([&, r] {
            asio::io_context io;
            auto store = open_postgresql_store(io, conninfo);
            if (!store) return;
            const std::string replica = "replica-" + std::to_string(r);
            for (;;) {
                auto claim = [replica](store_tx& tx) { return tx.claim_leases(replica, 7, 60000); };
                auto got = await_on(io, store->transact(std::move(claim)));
                if (!got) {
                    ADD_FAILURE() << got.error().message;
                    return;
                }
                if (got->empty()) return;
                for (const auto& l : *got) claimed[static_cast<std::size_t>(r)].push_back(l.user_id);
            }
        });
    }
    for (auto& t : threads) t.join();
    std::set<std::string> all;
    std::size_t total = 0;
    for (const auto& c : claimed) {
        total += c.size();
        all.insert(c.begin(), c.end());
    }
    EXPECT_EQ(total, 300u) << "every user claimed once";
    EXPECT_EQ(all.size(), 300u) << "nobody claimed twice";
}

}  // namespace
}  // namespace sessiond
