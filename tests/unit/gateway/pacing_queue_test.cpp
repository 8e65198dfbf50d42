#include "sessiond/gateway/pacing_queue.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <list>

namespace sessiond {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using system = std::chrono::system_clock;

constexpr std::string_view history = "/v1/api/iserver/marketdata/history";

std::shared_ptr<username_pacer> pacer_with_rate(int per_second) {
    pacer_limits limits;
    limits.max_requests_per_second = per_second;
    return std::make_shared<username_pacer>(limits);
}

class pacing_queue_test : public ::testing::Test {
protected:
    struct request {
        std::string name;
        std::optional<pacing_queue::result> result;
        system::time_point at{};
        asio::cancellation_signal client_gone;
    };

    // Starts acquire() for `path` (the result lands in the returned request); nothing runs until the
    // io_context does.
    request& ask(pacing_queue& q, std::string path, steady::duration wait = 5s) {
        request& r = requests.emplace_back();
        r.name = path;
        asio::co_spawn(
            io,
            [&q, &r, path, deadline = steady::now() + wait]() -> asio::awaitable<void> {
                auto out = co_await q.acquire(path, deadline, r.client_gone.slot());
                r.at = system::now();
                r.result.emplace(std::move(out));
            },
            asio::detached);
        return r;
    }
    // What is ready now, and everything until nothing is left (an io_context that ran out of work
    // stays stopped until restarted).
    void poll() {
        io.restart();
        io.poll();
    }
    void run() {
        io.restart();
        io.run();
    }
    static bool permitted(const request& r) { return r.result && std::holds_alternative<pacing_permit>(*r.result); }

    asio::io_context io;
    std::list<request> requests;
};

TEST_F(pacing_queue_test, the_gateway_leaves_one_request_a_second_to_the_sessions_own_calls) {
    auto pacer = pacer_with_rate(3);
    pacing_queue q(io.get_executor(), pacer);
    auto& first = ask(q, "/v1/api/iserver/accounts");
    auto& second = ask(q, "/v1/api/iserver/accounts");
    poll();
    ASSERT_TRUE(permitted(first));
    ASSERT_TRUE(permitted(second));
    // Two of IBKR's three a second taken: the session may still call now, the gateway may not.
    const auto now = system::now();
    EXPECT_LE(pacer->ready_at("/tickle", now), now);
    EXPECT_GT(pacer->ready_at("/iserver/accounts", now, pacing_queue::spare_for_session), now);

    auto& third = ask(q, "/v1/api/iserver/accounts");
    run();
    ASSERT_TRUE(permitted(third)) << "queued, then let through when the window moved on";
    EXPECT_GE(third.at - first.at, 1s) << "not before IBKR's second has passed";
}

TEST_F(pacing_queue_test, a_request_that_cannot_go_before_its_deadline_is_refused_at_once_with_when_it_could) {
    auto pacer = pacer_with_rate(10);
    pacing_queue q(io.get_executor(), pacer);
    auto& first = ask(q, "/v1/api/portfolio/accounts", 1s);
    auto& second = ask(q, "/v1/api/portfolio/accounts", 1s);  // IBKR allows one per 5 s
    run();
    ASSERT_TRUE(permitted(first));
    ASSERT_TRUE(second.result.has_value());
    const auto* refusal = std::get_if<pacing_refusal>(&*second.result);
    ASSERT_NE(refusal, nullptr);
    EXPECT_FALSE(refusal->penalty);
    EXPECT_GE(refusal->retry_at - first.at, 4900ms);
    EXPECT_EQ(q.waiting(), 0u);
}

TEST_F(pacing_queue_test, a_429_penalty_refuses_every_path_and_says_so) {
    auto pacer = pacer_with_rate(10);
    pacer->penalise(system::now() + 60s);
    pacing_queue q(io.get_executor(), pacer);
    auto& r = ask(q, "/v1/api/iserver/accounts");
    run();
    const auto* refusal = std::get_if<pacing_refusal>(&*r.result);
    ASSERT_NE(refusal, nullptr);
    EXPECT_TRUE(refusal->penalty);
    EXPECT_GE(refusal->retry_at - system::now(), 50s);
}

TEST_F(pacing_queue_test, requests_in_flight_are_limited_and_the_oldest_waiter_goes_first_when_one_ends) {
    auto pacer = pacer_with_rate(50);
    pacing_queue q(io.get_executor(), pacer);
    for (int i = 0; i < 5; ++i) ask(q, std::string(history));
    poll();
    for (const auto& r : requests) ASSERT_TRUE(permitted(r));
    auto& older = ask(q, std::string(history));
    auto& newer = ask(q, std::string(history));
    auto& other = ask(q, "/v1/api/iserver/accounts");
    poll();
    EXPECT_FALSE(older.result.has_value());
    EXPECT_FALSE(newer.result.has_value());
    EXPECT_TRUE(permitted(other)) << "another endpoint is not held up behind them";
    EXPECT_EQ(q.waiting(), 2u);

    requests.front().result.reset();  // the first history request ends: its place is given back
    poll();
    EXPECT_TRUE(permitted(older));
    EXPECT_FALSE(newer.result.has_value());
    EXPECT_EQ(q.waiting(), 1u);

    newer.client_gone.emit(asio::cancellation_type::terminal);
    run();
    ASSERT_TRUE(newer.result.has_value());
    EXPECT_TRUE(std::holds_alternative<pacing_cancelled>(*newer.result));
    EXPECT_EQ(q.waiting(), 0u);
}

}  // namespace
}  // namespace sessiond
