// The journal counts what the endpoints saw and wakes listeners, and forgets only the oldest events.

#include "ibkr_sim/request_journal.hpp"

#include <boost/json/array.hpp>

#include <gtest/gtest.h>

namespace sessiond::sim {
namespace {

using namespace std::chrono_literals;
const auto started = std::chrono::steady_clock::time_point{} + 1000s;

request_event event(std::string path, unsigned status, std::string reason = {}) {
    request_event e;
    e.method = "POST";
    e.path = std::move(path);
    e.status = status;
    e.reason = std::move(reason);
    return e;
}

TEST(request_journal, counts_calls_statuses_and_rejections) {
    request_journal journal(started);
    journal.record(event("/v1/api/tickle", 200), started + 1s);
    journal.record(event("/v1/api/tickle", 401, "missing_bearer"), started + 2s);
    journal.record(event("/v1/api/tickle", 200), started + 3s);
    EXPECT_EQ(journal.count("/v1/api/tickle", std::nullopt), 3u);
    EXPECT_EQ(journal.count("/v1/api/tickle", 200u), 2u);
    EXPECT_EQ(journal.count("/v1/api/tickle", 503u), 0u);
    EXPECT_EQ(journal.count("/other", std::nullopt), 0u);
    EXPECT_EQ(journal.calls_json(), (boost::json::object{{"/v1/api/tickle", 3}}));
    EXPECT_EQ(journal.statuses_json(), (boost::json::object{{"/v1/api/tickle 200", 2}, {"/v1/api/tickle 401", 1}}));
    EXPECT_EQ(journal.rejections_json(), (boost::json::object{{"missing_bearer", 1}}));
    journal.reset_counts();
    EXPECT_EQ(journal.count("/v1/api/tickle", std::nullopt), 0u);
}

TEST(request_journal, returns_events_since_a_sequence_number) {
    request_journal journal(started);
    journal.record(event("/a", 200), started + 1500ms);
    journal.record(event("/b", 0), started + 2s);
    const auto all = journal.events_since(0);
    EXPECT_EQ(all.at("next"), 3);
    ASSERT_EQ(all.at("events").as_array().size(), 2u);
    const auto& first = all.at("events").as_array()[0].as_object();
    EXPECT_EQ(first.at("seq"), 1);
    EXPECT_EQ(first.at("t_ms"), 1500);
    EXPECT_EQ(first.at("path"), "/a");
    EXPECT_EQ(first.at("fault"), "");
    const auto later = journal.events_since(2);
    ASSERT_EQ(later.at("events").as_array().size(), 1u);
    EXPECT_EQ(later.at("events").as_array()[0].at("status"), 0);
    EXPECT_TRUE(journal.events_since(3).at("events").as_array().empty());
}

TEST(request_journal, keeps_only_the_newest_events) {
    request_journal journal(started, 3);
    for (int i = 0; i < 5; ++i) journal.record(event("/a", 200), started);
    const auto all = journal.events_since(0);
    ASSERT_EQ(all.at("events").as_array().size(), 3u);
    EXPECT_EQ(all.at("events").as_array()[0].at("seq"), 3);
    EXPECT_EQ(journal.count("/a", std::nullopt), 5u);  // counts are not limited by the ring
}

TEST(request_journal, wakes_listeners_on_every_event_until_unsubscribed) {
    request_journal journal(started);
    int woken = 0;
    const auto id = journal.subscribe([&] { ++woken; });
    journal.record(event("/a", 200), started);
    journal.record(event("/a", 200), started);
    journal.unsubscribe(id);
    journal.record(event("/a", 200), started);
    EXPECT_EQ(woken, 2);
}

TEST(request_journal, tolerates_a_listener_that_unsubscribes_another) {
    request_journal journal(started);
    std::uint64_t second = 0;
    int second_calls = 0;
    journal.subscribe([&] { journal.unsubscribe(second); });
    second = journal.subscribe([&] { ++second_calls; });
    journal.record(event("/a", 200), started);
    EXPECT_EQ(second_calls, 0);
}

}  // namespace
}  // namespace sessiond::sim
