// One replica's leases against a real PostgreSQL database, two replicas in one test: the split of
// the users, handing back when a replica joins, losing a lease taken over, self-fencing by the
// replica's own clock. Rounds are called one by one; expiry is made with a TTL of 0, never waited for.

#include "sessiond/replica/replica_leases.hpp"

#include "unit/store/store_test_support.hpp"

#include <set>
#include <string>
#include <vector>

namespace sessiond {
namespace {

using namespace store_test;
using namespace std::chrono_literals;

struct recorded {
    std::vector<std::string> gained, lost, handed_back;
};

replica_leases::hooks hooks_into(recorded& r) {
    return {[&r](const std::string& u) { r.gained.push_back(u); }, [&r](const std::string& u) { r.lost.push_back(u); },
            [&r](const std::string& u) -> asio::awaitable<void> {
                r.handed_back.push_back(u);
                co_return;
            }};
}

class replica_leases_test : public ::testing::Test {
protected:
    void SetUp() override {
        conninfo = testing::postgres_cluster::shared().create_database();
        store_a = open_postgresql_store(io, conninfo);
        store_b = open_postgresql_store(io, conninfo);
        ASSERT_TRUE(store_a && store_b);
        auto add = [](store_tx& tx) -> expected<void> {
            for (int i = 0; i < 10; ++i) {
                const std::string id = "u" + std::to_string(1000 + i);
                if (auto r = tx.insert_user(user(id)); !r) return r;
                if (auto r = tx.put_credential(credential_for(id)); !r) return r;
            }
            return {};
        };
        ASSERT_TRUE(await_on(io, store_a->transact(std::move(add))));
    }
    void run(asio::awaitable<void> round) {
        await_on(io, [](asio::awaitable<void> a) -> asio::awaitable<int> {
            co_await std::move(a);
            co_return 0;
        }(std::move(round)));
    }

    std::string conninfo;
    asio::io_context io;
    std::unique_ptr<credential_store> store_a;
    std::unique_ptr<credential_store> store_b;
};

TEST_F(replica_leases_test, alone_a_replica_holds_every_user_and_may_call_only_for_those) {
    recorded a;
    replica_leases ra(*store_a, "replica-a", {}, hooks_into(a), logger());
    run(ra.claim_round());
    EXPECT_EQ(ra.held(), 10u);
    EXPECT_EQ(a.gained.size(), 10u);
    EXPECT_TRUE(ra.may_call("u1003"));
    EXPECT_FALSE(ra.may_call("u9999"));
    EXPECT_EQ(ra.fence_of("u1003").value().lease.fencing, 1);
}

TEST_F(replica_leases_test, a_replica_that_joins_gets_half_the_other_hands_its_surplus_back_and_nobody_holds_a_user_twice) {
    recorded a, b;
    replica_leases ra(*store_a, "replica-a", {}, hooks_into(a), logger());
    replica_leases rb(*store_b, "replica-b", {}, hooks_into(b), logger());
    run(ra.claim_round());
    run(rb.renew_round());  // its heartbeat: two replicas live
    run(rb.claim_round());
    EXPECT_EQ(rb.held(), 0u) << "nothing is free until a hands back";
    run(ra.claim_round());
    EXPECT_EQ(ra.held(), 5u);
    EXPECT_EQ(a.handed_back, (std::vector<std::string>{"u1009", "u1008", "u1007", "u1006", "u1005"}));
    run(rb.claim_round());
    EXPECT_EQ(rb.held(), 5u);
    for (const auto& u : b.gained) {
        EXPECT_FALSE(ra.may_call(u)) << u;
        EXPECT_TRUE(rb.may_call(u)) << u;
        EXPECT_EQ(rb.fence_of(u).value().lease.fencing, 2) << "taken over from a's released lease";
    }
    EXPECT_TRUE(a.lost.empty() && b.lost.empty());
}

TEST_F(replica_leases_test, a_lease_taken_over_after_it_expired_is_lost_to_its_old_holder_without_a_logout) {
    recorded a, b;
    lease_timing expired_at_once;
    expired_at_once.ttl = 0ms;
    replica_leases ra(*store_a, "replica-a", expired_at_once, hooks_into(a), logger());
    replica_leases rb(*store_b, "replica-b", {}, hooks_into(b), logger());
    run(ra.claim_round());
    ASSERT_EQ(ra.held(), 10u);
    run(rb.claim_round());  // a counts among the live replicas: b takes its fair share of the expired leases
    EXPECT_GT(rb.held(), 0u);
    run(ra.renew_round());
    EXPECT_EQ(ra.held(), 0u);
    EXPECT_EQ(a.lost.size(), 10u);
    EXPECT_TRUE(a.handed_back.empty()) << "a lost lease is dropped, never logged out";
}

TEST_F(replica_leases_test, a_replica_stops_calling_for_its_users_once_its_own_clock_passes_the_usable_window) {
    recorded a;
    auto now = replica_leases::clock::now();
    replica_leases ra(*store_a, "replica-a", {}, hooks_into(a), logger(), [&now] { return now; });
    run(ra.claim_round());
    ASSERT_TRUE(ra.may_call("u1000"));
    now += 17s;
    EXPECT_TRUE(ra.may_call("u1000"));
    now += 1s;  // 30 s TTL less the 12 s margin
    EXPECT_FALSE(ra.may_call("u1000")) << "no call, though the database has not expired the lease yet";
    run(ra.renew_round());
    EXPECT_TRUE(ra.may_call("u1000")) << "renewed: usable again from the renewal's send";
}

// A renewal whose answer never comes (a partition) must not keep the sessions up: past the usable
// window by the replica's own clock, drop_unusable (the runner's timer) loses every lease at once.
TEST_F(replica_leases_test, leases_past_the_usable_window_are_dropped_without_waiting_for_a_renewals_answer) {
    recorded a;
    auto now = replica_leases::clock::now();
    replica_leases ra(*store_a, "replica-a", {}, hooks_into(a), logger(), [&now] { return now; });
    run(ra.claim_round());
    ASSERT_EQ(ra.held(), 10u);
    now += 17s;
    ra.drop_unusable();
    EXPECT_EQ(ra.held(), 10u) << "still usable";
    EXPECT_TRUE(a.lost.empty());
    now += 1s;
    ra.drop_unusable();
    EXPECT_EQ(ra.held(), 0u);
    EXPECT_EQ(a.lost.size(), 10u) << "each session dropped (without a logout: the lost hook)";
    EXPECT_FALSE(ra.fence_of("u1000")) << "nor is anything written under the lease any more";
}

}  // namespace
}  // namespace sessiond
