#include "sessiond/net/idle_connections.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <memory>
#include <optional>

namespace sessiond {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using namespace std::chrono_literals;

class idle_connections_test : public ::testing::Test {
protected:
    std::unique_ptr<tls_tcp_stream> connection() { return std::make_unique<tls_tcp_stream>(io, *tls); }

    asio::io_context io;
    std::shared_ptr<ssl::context> tls = std::make_shared<ssl::context>(ssl::context::tls_client);
    std::shared_ptr<ssl::context> other_tls = std::make_shared<ssl::context>(ssl::context::tls_client);
    base_url ibkr{"https://api.ibkr.com", "api.ibkr.com", 443};
    base_url sim{"https://127.0.0.1:8443", "127.0.0.1", 8443};
    idle_connections::clock::time_point t0 = idle_connections::clock::now();
};

TEST_F(idle_connections_test, hands_back_the_newest_connection_first_and_each_only_once) {
    idle_connections pool;
    auto first = connection();
    auto second = connection();
    tls_tcp_stream* older = first.get();
    tls_tcp_stream* newer = second.get();
    pool.give_back(tls, ibkr, std::move(first), t0);
    pool.give_back(tls, ibkr, std::move(second), t0 + 1s);
    EXPECT_EQ(pool.idle(), 2u);
    EXPECT_EQ(pool.take(tls, ibkr, t0 + 2s).get(), newer);
    EXPECT_EQ(pool.take(tls, ibkr, t0 + 2s).get(), older);
    EXPECT_EQ(pool.take(tls, ibkr, t0 + 2s), nullptr);
    EXPECT_EQ(pool.reused(), 2u);
}

TEST_F(idle_connections_test, a_connection_goes_only_to_its_own_endpoint_and_tls_context) {
    idle_connections pool;
    pool.give_back(tls, ibkr, connection(), t0);
    EXPECT_EQ(pool.take(tls, sim, t0), nullptr);
    EXPECT_EQ(pool.take(other_tls, ibkr, t0), nullptr);
    base_url other_port = ibkr;
    other_port.port = 8443;
    EXPECT_EQ(pool.take(tls, other_port, t0), nullptr);
    EXPECT_NE(pool.take(tls, ibkr, t0), nullptr);
}

TEST_F(idle_connections_test, keeps_at_most_its_bound_per_endpoint_dropping_the_oldest) {
    idle_connections pool(2, 1h);
    auto a = connection();
    tls_tcp_stream* oldest = a.get();
    pool.give_back(tls, ibkr, std::move(a), t0);
    pool.give_back(tls, ibkr, connection(), t0 + 1s);
    pool.give_back(tls, ibkr, connection(), t0 + 2s);
    pool.give_back(tls, sim, connection(), t0 + 2s);  // another endpoint has its own bound
    EXPECT_EQ(pool.idle(), 3u);
    EXPECT_NE(pool.take(tls, ibkr, t0 + 3s).get(), oldest);
    EXPECT_NE(pool.take(tls, ibkr, t0 + 3s).get(), oldest);
    EXPECT_EQ(pool.take(tls, ibkr, t0 + 3s), nullptr);
}

TEST_F(idle_connections_test, drops_connections_that_waited_longer_than_max_idle) {
    idle_connections pool(8, 30s);
    pool.give_back(tls, ibkr, connection(), t0);
    pool.give_back(tls, ibkr, connection(), t0 + 20s);
    EXPECT_NE(pool.take(tls, ibkr, t0 + 40s), nullptr);  // the second, 20 s idle
    EXPECT_EQ(pool.idle(), 0u);                          // the first, 40 s idle, was dropped
    EXPECT_EQ(pool.take(tls, ibkr, t0 + 40s), nullptr);
}

// Places for exchanges: at most max_in_flight at once, the others wait in order within their deadline.
class places_test : public idle_connections_test {
protected:
    // Asks for a place; `answer` holds the outcome once the loop has run far enough.
    void ask(idle_connections& pool, std::optional<bool>& answer, idle_connections::waiter** waiting = nullptr,
             std::chrono::seconds within = 60s) {
        asio::co_spawn(io, pool.enter(tls, ibkr, idle_connections::clock::now() + within, waiting),
                       [&answer](std::exception_ptr e, bool entered) {
                           if (e) std::rethrow_exception(e);
                           answer = entered;
                       });
        turn();
    }
    // Runs what is ready (an io_context that ran out of work stops until restarted).
    void turn() {
        io.restart();
        io.poll();
    }
};

TEST_F(places_test, the_first_max_in_flight_enter_at_once_the_next_waits_for_one_to_leave_in_order) {
    idle_connections pool(8, 1h, 2);
    std::optional<bool> a, b, c, d;
    ask(pool, a);
    ask(pool, b);
    EXPECT_EQ(a, true);
    EXPECT_EQ(b, true);
    ask(pool, c);
    ask(pool, d);
    EXPECT_FALSE(c.has_value());
    EXPECT_FALSE(d.has_value());
    EXPECT_EQ(pool.in_flight(), 2u);
    EXPECT_EQ(pool.waiting(), 2u);

    pool.leave(tls, ibkr);  // a's exchange ends: c, who asked first, goes
    turn();
    EXPECT_EQ(c, true);
    EXPECT_FALSE(d.has_value());
    EXPECT_EQ(pool.in_flight(), 2u);
    pool.leave(tls, ibkr);
    turn();
    EXPECT_EQ(d, true);
    pool.leave(tls, ibkr);
    pool.leave(tls, ibkr);
    EXPECT_EQ(pool.in_flight(), 0u);
    EXPECT_EQ(pool.waiting(), 0u);
}

TEST_F(places_test, a_wait_ends_unanswered_at_its_deadline_or_when_cancelled_and_leaves_the_queue) {
    idle_connections pool(8, 1h, 1);
    std::optional<bool> first, late, cancelled;
    ask(pool, first);
    ASSERT_EQ(first, true);
    idle_connections::waiter* waiting = nullptr;
    ask(pool, cancelled, &waiting);
    ASSERT_NE(waiting, nullptr);
    waiting->cancel();
    turn();
    EXPECT_EQ(cancelled, false);
    EXPECT_EQ(waiting, nullptr);

    ask(pool, late, nullptr, 0s);  // its deadline is now
    io.restart();
    io.run_for(1s);  // until the timer's handler has run
    EXPECT_EQ(late, false);
    EXPECT_EQ(pool.waiting(), 0u);
    pool.leave(tls, ibkr);
    EXPECT_EQ(pool.in_flight(), 0u) << "nobody was waiting any more: the place is free";
}

TEST_F(places_test, a_waiter_whose_frame_is_destroyed_unresumed_leaves_the_queue) {
    idle_connections pool(8, 1h, 1);
    {
        asio::io_context other;
        std::optional<bool> first;
        ask(pool, first);
        ASSERT_EQ(first, true);
        asio::co_spawn(other, pool.enter(tls, ibkr, idle_connections::clock::now() + 60s, nullptr), asio::detached);
        other.poll();
        EXPECT_EQ(pool.waiting(), 1u);
    }  // `other` goes with the waiting coroutine
    EXPECT_EQ(pool.waiting(), 0u);
    pool.leave(tls, ibkr);
    EXPECT_EQ(pool.in_flight(), 0u);
}

TEST_F(idle_connections_test, a_replaced_tls_context_gets_none_of_the_old_ones_connections) {
    idle_connections pool;
    pool.give_back(tls, ibkr, connection(), t0);
    tls.reset();  // a reload made a new context (another CA); the old one is gone
    auto reloaded = std::make_shared<ssl::context>(ssl::context::tls_client);
    EXPECT_EQ(pool.take(reloaded, ibkr, t0), nullptr);
    EXPECT_EQ(pool.idle(), 0u) << "the old context's idle connections were closed";
}

TEST_F(idle_connections_test, giving_back_nothing_keeps_nothing) {
    idle_connections pool;
    pool.give_back(tls, ibkr, nullptr, t0);
    EXPECT_EQ(pool.idle(), 0u);
}

}  // namespace
}  // namespace sessiond
