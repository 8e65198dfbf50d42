// The bookkeeping behind the connection cap: which connection makes room for a new one. Pure: the
// times are given, closing is a callback that records what was closed.

#include "sessiond/net/connection_registry.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <vector>

namespace sessiond::testing {
namespace {

using namespace std::chrono_literals;
using activity = connection_registry::activity;
using clock = connection_registry::clock;

const clock::time_point t0 = clock::now();

// A registry whose closers record which connection they closed.
class registry_with_log {
public:
    connection_registry::membership add(clock::time_point at) {
        auto m = registry.add(at);
        const std::size_t n = next_++;
        m.on_close([this, n] { closed.push_back(n); });
        return m;
    }

    connection_registry registry;
    std::vector<std::size_t> closed;  // in the order of add(), from 0

private:
    std::size_t next_ = 0;
};

TEST(connection_registry, evicts_nothing_when_empty) {
    connection_registry r;
    EXPECT_FALSE(r.eviction_candidate());
    EXPECT_FALSE(r.evict_one());
}

TEST(connection_registry, evicts_the_connection_idle_the_longest) {
    registry_with_log r;
    auto a = r.add(t0);
    auto b = r.add(t0);
    auto c = r.add(t0);
    a.idle(t0 + 2s);
    b.idle(t0 + 1s);
    c.idle(t0 + 3s);
    const auto gone = r.registry.evict_one();
    ASSERT_TRUE(gone);
    EXPECT_EQ(gone->what, activity::idle);
    EXPECT_EQ(gone->since, t0 + 1s);
    EXPECT_EQ(r.closed, std::vector<std::size_t>{1});
    EXPECT_EQ(r.registry.size(), 2u);
}

TEST(connection_registry, a_closing_connection_goes_first) {
    registry_with_log r;
    auto a = r.add(t0);
    auto b = r.add(t0 + 1s);
    b.closing();
    (void)r.registry.evict_one();
    EXPECT_EQ(r.closed, std::vector<std::size_t>{1});
}

TEST(connection_registry, a_request_begun_long_ago_goes_before_a_connection_idle_since_later) {
    registry_with_log r;
    auto loris = r.add(t0);
    loris.reading(t0 + 1s);
    auto keep_alive = r.add(t0);
    keep_alive.idle(t0 + 5s);
    const auto gone = r.registry.evict_one();
    ASSERT_TRUE(gone);
    EXPECT_EQ(gone->what, activity::reading);
    EXPECT_EQ(r.closed, std::vector<std::size_t>{0});
}

TEST(connection_registry, a_connection_idle_since_before_a_request_began_goes_first) {
    registry_with_log r;
    auto slow = r.add(t0);
    slow.reading(t0 + 5s);
    auto keep_alive = r.add(t0);
    keep_alive.idle(t0 + 1s);
    (void)r.registry.evict_one();
    EXPECT_EQ(r.closed, std::vector<std::size_t>{1});
}

// The slow-loris lock-out: with every other connection dribbling a request, a probe accepted a
// moment ago (idle, its request not read yet) was the first to go when the next client came.
TEST(connection_registry, a_connection_just_accepted_goes_last_even_when_every_other_is_reading) {
    registry_with_log r;
    std::vector<connection_registry::membership> lorises;
    for (int i = 0; i < 4; ++i) {
        lorises.push_back(r.add(t0 + std::chrono::milliseconds(i)));
        lorises.back().reading(t0 + 1s + std::chrono::milliseconds(i));
    }
    auto probe = r.add(t0 + 5s);
    for (int i = 0; i < 4; ++i) (void)r.registry.evict_one();
    EXPECT_EQ(r.closed, (std::vector<std::size_t>{0, 1, 2, 3}));
    const auto last = r.registry.eviction_candidate();
    ASSERT_TRUE(last);
    EXPECT_EQ(last->since, t0 + 5s) << "the probe goes only when nothing else is left";
}

TEST(connection_registry, a_responding_connection_is_never_evicted) {
    registry_with_log r;
    auto a = r.add(t0);
    auto b = r.add(t0 + 1s);
    a.responding();
    b.responding();
    EXPECT_FALSE(r.registry.evict_one());
    EXPECT_TRUE(r.closed.empty());
    // Answered and waiting for the next request: a candidate again, with its new since.
    a.idle(t0 + 3s);
    const auto gone = r.registry.evict_one();
    ASSERT_TRUE(gone);
    EXPECT_EQ(gone->since, t0 + 3s);
    EXPECT_EQ(r.closed, std::vector<std::size_t>{0});
}

TEST(connection_registry, an_evicted_connection_is_forgotten_at_once_and_stays_out) {
    registry_with_log r;
    auto a = r.add(t0);
    auto b = r.add(t0 + 1s);
    (void)r.registry.evict_one();
    EXPECT_EQ(r.registry.size(), 1u);
    // Its coroutine has not ended yet and still reports what it does: nothing changes.
    a.idle(t0 + 9s);
    a.on_close([] { ADD_FAILURE() << "an evicted connection's closer came back"; });
    EXPECT_EQ(r.registry.size(), 1u);
    const auto next = r.registry.eviction_candidate();
    ASSERT_TRUE(next);
    EXPECT_EQ(next->since, t0 + 1s);
    r.registry.close_all();
    EXPECT_EQ(r.closed, (std::vector<std::size_t>{0, 1}));
}

TEST(connection_registry, a_connection_that_ends_leaves_the_registry_and_the_order) {
    registry_with_log r;
    auto b = r.add(t0 + 1s);
    {
        auto a = r.add(t0);
        EXPECT_EQ(r.registry.size(), 2u);
    }
    EXPECT_EQ(r.registry.size(), 1u);
    const auto next = r.registry.eviction_candidate();
    ASSERT_TRUE(next);
    EXPECT_EQ(next->since, t0 + 1s);
}

// At the cap every accept evicts: choosing must not cost a pass over every connection (it did: 14% of
// the daemon's time under a flood of 10,000 connections). 50,000 connections and as many evictions
// take 0.2 s in O(log n), 14 s with a pass over all of them per eviction (test build, -O1).
TEST(connection_registry, choosing_whom_to_evict_does_not_grow_with_the_number_of_connections) {
    constexpr int connections = 50'000;
    connection_registry r;
    std::vector<std::unique_ptr<connection_registry::membership>> members;
    members.reserve(2 * connections);
    for (int i = 0; i < connections; ++i) {
        members.push_back(std::make_unique<connection_registry::membership>(r.add(t0)));
        members.back()->idle(t0 + std::chrono::microseconds(i));
    }
    const auto began = std::chrono::steady_clock::now();
    for (int i = 0; i < connections; ++i) {
        const auto gone = r.evict_one();
        ASSERT_TRUE(gone);
        ASSERT_EQ(gone->since, t0 + std::chrono::microseconds(i));
        members.push_back(std::make_unique<connection_registry::membership>(r.add(t0 + 1h)));
    }
    EXPECT_LT(std::chrono::steady_clock::now() - began, 2s);
    EXPECT_EQ(r.size(), static_cast<std::size_t>(connections));
}

}  // namespace
}  // namespace sessiond::testing
