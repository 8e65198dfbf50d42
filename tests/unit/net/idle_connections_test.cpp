#include "sessiond/net/idle_connections.hpp"

#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <memory>

namespace sessiond {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using namespace std::chrono_literals;

class idle_connections_test : public ::testing::Test {
protected:
    std::unique_ptr<tls_tcp_stream> connection() { return std::make_unique<tls_tcp_stream>(io, tls); }

    asio::io_context io;
    ssl::context tls{ssl::context::tls_client};
    ssl::context other_tls{ssl::context::tls_client};
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

TEST_F(idle_connections_test, giving_back_nothing_keeps_nothing) {
    idle_connections pool;
    pool.give_back(tls, ibkr, nullptr, t0);
    EXPECT_EQ(pool.idle(), 0u);
}

}  // namespace
}  // namespace sessiond
