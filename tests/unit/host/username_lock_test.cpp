#include "sessiond/host/username_lock.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <random>
#include <thread>

namespace sessiond {
namespace {

using namespace std::chrono_literals;

const base_url production{"https://api.ibkr.com", "api.ibkr.com", 443};

// Abstract names are host-wide and the suites run in parallel: every socket test has its own.
std::string fresh_name() {
    static std::mt19937_64 random(std::random_device{}());
    return username_lock_name(fmt::format("lock-test-{:016x}", random()), production);
}

lock_holder holder(std::int64_t pid, std::string api) { return lock_holder{pid, std::move(api), "1.2.3", "run"}; }

// --- the name ---

TEST(username_lock_name, is_abstract_and_a_truncated_sha256_of_username_and_endpoint) {
    // sha256("simuser\nhttps://api.ibkr.com:443"), first 16 bytes
    EXPECT_EQ(username_lock_name("simuser", production), std::string("\0ibkr-sessiond/3a12a5736161a5517071ab05f5e96ffe", 47));
}

TEST(username_lock_name, never_holds_the_username_in_clear) {
    EXPECT_EQ(username_lock_name("DU1234567user", production).find("DU1234567user"), std::string::npos);
}

TEST(username_lock_name, ignores_the_case_of_username_and_host_but_not_the_port) {
    EXPECT_EQ(username_lock_name("SimUser", base_url{"https://API.ibkr.com", "API.ibkr.com", 443}),
              username_lock_name("simuser", production));
    EXPECT_NE(username_lock_name("simuser", base_url{"https://api.ibkr.com:8443", "api.ibkr.com", 8443}),
              username_lock_name("simuser", production));
}

TEST(username_lock_name, differs_by_username_and_by_endpoint) {
    EXPECT_NE(username_lock_name("alice", production), username_lock_name("bob", production));
    EXPECT_NE(username_lock_name("alice", production),
              username_lock_name("alice", base_url{"https://127.0.0.1:9443", "127.0.0.1", 9443}));
    // The separator keeps "ab" + "c..." apart from "a" + "bc...".
    EXPECT_NE(username_lock_name("a", base_url{"https://b", "b", 443}), username_lock_name("ab", base_url{"https://", "", 443}));
}

// --- the holder's answer ---

TEST(holder_line, is_one_line_of_json_that_reads_back) {
    const std::string line = holder_line(holder(4242, "http://127.0.0.1:4257"));
    EXPECT_EQ(line, R"({"pid":4242,"api":"http://127.0.0.1:4257","version":"1.2.3","command":"run"})"
                    "\n");
    const auto back = parse_holder_line(line);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back->pid, 4242);
    EXPECT_EQ(back->api, "http://127.0.0.1:4257");
    EXPECT_EQ(back->version, "1.2.3");
    EXPECT_EQ(back->command, "run");
}

TEST(holder_line, refuses_what_a_holder_does_not_say) {
    for (const char* bad : {"", "garbage", "[1]", R"({"pid":"42"})", R"({"pid":-1})", R"({"api":"file:///etc"})",
                            R"({"api":7})", "{\"version\":\"1\\u001b[2J\"}"})
        EXPECT_FALSE(parse_holder_line(bad)) << bad;
}

TEST(describe_holder, names_pid_and_how_to_ask_it_but_never_the_username) {
    const std::string text = describe_holder(holder(4242, "http://127.0.0.1:4257"), production);
    EXPECT_EQ(text,
              "another ibkr-sessiond (pid 4242, version 1.2.3) keeps this IBKR username (the one in IBKR_CREDENTIAL) "
              "at https://api.ibkr.com; ask it: curl http://127.0.0.1:4257/api/ibkr/status");
    EXPECT_NE(describe_holder(lock_holder{}, production).find("pid unknown"), std::string::npos);
    EXPECT_NE(describe_holder(lock_holder{7, {}, "1", "test-connection"}, production).find("test-connection"),
              std::string::npos);
}

TEST(api_url, asks_an_every_address_listener_on_loopback) {
    EXPECT_EQ(api_url("127.0.0.1", 4257), "http://127.0.0.1:4257");
    EXPECT_EQ(api_url("0.0.0.0", 4257), "http://127.0.0.1:4257");
    EXPECT_EQ(api_url("localhost", 80), "http://127.0.0.1:80");
    EXPECT_EQ(api_url("::1", 4257), "http://[::1]:4257");
    EXPECT_EQ(api_url("::", 4257), "http://[::1]:4257");
}

// --- real sockets ---

TEST(username_lock, a_second_lock_for_the_same_name_is_refused_with_the_holders_answer_until_the_first_is_released) {
    const std::string name = fresh_name();
    boost::asio::io_context holder_io;
    auto first = username_lock::acquire(holder_io.get_executor(), name, holder(4242, "http://127.0.0.1:4257"));
    ASSERT_TRUE(std::holds_alternative<username_lock>(first));

    // The holder's loop runs on its own thread, as the daemon's does while another process probes it.
    std::optional<username_lock> held(std::move(std::get<username_lock>(first)));
    std::thread loop([&] { holder_io.run(); });
    auto stop_holder = [&] {
        boost::asio::post(holder_io, [&] { held.reset(); });  // closed on its own loop, which then runs dry
        loop.join();
    };

    boost::asio::io_context io;
    auto second = username_lock::acquire(io.get_executor(), name, holder(1, ""));
    const auto* refused = std::get_if<username_lock::held_elsewhere>(&second);
    if (refused == nullptr) stop_holder();
    ASSERT_NE(refused, nullptr);
    EXPECT_EQ(refused->holder.pid, 4242);
    EXPECT_EQ(refused->holder.api, "http://127.0.0.1:4257");
    EXPECT_EQ(refused->holder.version, "1.2.3");

    stop_holder();
    auto third = username_lock::acquire(io.get_executor(), name, holder(1, ""));
    EXPECT_TRUE(std::holds_alternative<username_lock>(third)) << "the name is free once its holder released it";
}

TEST(username_lock, a_holder_that_does_not_answer_is_reported_with_pid_unknown_within_the_probe_timeout) {
    const std::string name = fresh_name();
    boost::asio::io_context stalled;  // never run: the holder cannot answer
    auto first = username_lock::acquire(stalled.get_executor(), name, holder(4242, "http://127.0.0.1:4257"));
    ASSERT_TRUE(std::holds_alternative<username_lock>(first));

    boost::asio::io_context io;
    const auto started = std::chrono::steady_clock::now();
    auto second = username_lock::acquire(io.get_executor(), name, holder(1, ""), 200ms);
    const auto took = std::chrono::steady_clock::now() - started;
    const auto* refused = std::get_if<username_lock::held_elsewhere>(&second);
    ASSERT_NE(refused, nullptr);
    EXPECT_FALSE(refused->holder.pid);
    EXPECT_TRUE(refused->holder.api.empty());
    EXPECT_LT(took, 2s);
}

TEST(username_lock, different_usernames_hold_their_locks_side_by_side) {
    boost::asio::io_context io;
    auto a = username_lock::acquire(io.get_executor(), fresh_name(), holder(1, ""));
    auto b = username_lock::acquire(io.get_executor(), fresh_name(), holder(1, ""));
    EXPECT_TRUE(std::holds_alternative<username_lock>(a));
    EXPECT_TRUE(std::holds_alternative<username_lock>(b));
}

TEST(username_lock, probe_finds_nobody_on_a_free_name_and_the_holder_on_a_taken_one) {
    const std::string name = fresh_name();
    EXPECT_FALSE(username_lock::probe(name, 200ms));
    boost::asio::io_context io;
    auto lock = username_lock::acquire(io.get_executor(), name, holder(77, "http://127.0.0.1:1"));
    ASSERT_TRUE(std::holds_alternative<username_lock>(lock));
    std::get<username_lock>(lock).describe_self(holder(77, "http://127.0.0.1:9999"));
    std::optional<lock_holder> seen;
    std::thread prober([&] { seen = username_lock::probe(name, 5s); });
    // The prober connects, then this loop answers it; the loop ends when the answer has gone.
    while (std::get<username_lock>(lock).answered() == 0 && io.run_one_for(5s) != 0) {}
    prober.join();
    ASSERT_TRUE(seen);
    EXPECT_EQ(seen->pid, 77);
    EXPECT_EQ(seen->api, "http://127.0.0.1:9999") << "describe_self changes the answer";
}

}  // namespace
}  // namespace sessiond
