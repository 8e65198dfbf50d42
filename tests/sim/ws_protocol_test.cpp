// The /v1/api/ws protocol without sockets: what each client message does to a socket's subscriptions,
// the server's messages, the bounded send queue, and the registry of open sockets.

#include "ibkr_sim/market_data.hpp"
#include "ibkr_sim/websocket_registry.hpp"
#include "ibkr_sim/ws_protocol.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sessiond::sim {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

constexpr std::string_view session = "0123abcd";

ws_subscriptions authenticated() {
    ws_subscriptions s{std::string(session)};
    EXPECT_EQ(s.apply(R"({"session":"0123abcd"})").what, ws_action::session_accepted);
    return s;
}

json::object parse(const std::string& text) { return json::parse(text).as_object(); }

TEST(ws_subscriptions, the_session_message_authenticates_only_with_the_tickle_session) {
    ws_subscriptions s{std::string(session)};
    EXPECT_FALSE(s.authenticated());
    EXPECT_EQ(s.apply(R"({"session":"other"})").what, ws_action::session_refused);
    EXPECT_FALSE(s.authenticated());
    EXPECT_EQ(s.apply(R"({"session":"0123abcd"})").what, ws_action::session_accepted);
    EXPECT_TRUE(s.authenticated());
    EXPECT_EQ(s.apply(R"({"session":42})").what, ws_action::error);
}

TEST(ws_subscriptions, topics_before_the_session_get_an_error_and_change_nothing) {
    ws_subscriptions s{std::string(session)};
    const auto a = s.apply(R"(smd+265598+{"fields":["31"]})");
    EXPECT_EQ(a.what, ws_action::error);
    EXPECT_TRUE(s.market_data().empty());
    EXPECT_EQ(s.apply("sor+{}").what, ws_action::error);
    EXPECT_FALSE(s.orders());
    // Keep-alives work before the session too.
    EXPECT_EQ(s.apply("tic").what, ws_action::none);
    EXPECT_EQ(s.apply("ech+hb").what, ws_action::echo);
}

TEST(ws_subscriptions, smd_subscribes_a_conid_with_its_fields_and_umd_ends_it) {
    auto s = authenticated();
    const auto a = s.apply(R"(smd+265598+{"fields":["31","84"]})");
    EXPECT_EQ(a.what, ws_action::market_data);
    EXPECT_EQ(a.conid, 265598);
    ASSERT_EQ(s.market_data().size(), 1u);
    EXPECT_EQ(s.market_data().at(265598), (std::vector<std::string>{"31", "84"}));
    EXPECT_EQ(s.apply(R"(smd+265598+{"fields":["86"]})").what, ws_action::market_data);  // replaces the fields
    EXPECT_EQ(s.market_data().at(265598), (std::vector<std::string>{"86"}));
    EXPECT_EQ(s.apply("umd+265598+{}").what, ws_action::none);
    EXPECT_TRUE(s.market_data().empty());
}

TEST(ws_subscriptions, malformed_smd_messages_get_an_error) {
    auto s = authenticated();
    for (const std::string_view m : {"smd", "smd+", "smd+x+{}", "smd+1+[1]", R"(smd+1+{"fields":"31"})",
                                     R"(smd+1+{"fields":[31]})", "umd+x+{}"})
        EXPECT_EQ(s.apply(m).what, ws_action::error) << m;
    EXPECT_TRUE(s.market_data().empty());
}

TEST(ws_subscriptions, market_data_subscriptions_per_socket_are_bounded) {
    auto s = authenticated();
    for (std::size_t i = 1; i <= ws_subscriptions::max_market_data; ++i)
        ASSERT_EQ(s.apply("smd+" + std::to_string(i) + "+{}").what, ws_action::market_data);
    EXPECT_EQ(s.apply("smd+100000+{}").what, ws_action::error);
    EXPECT_EQ(s.apply("smd+1+{}").what, ws_action::market_data);  // re-subscribing an existing one is fine
    EXPECT_EQ(s.market_data().size(), ws_subscriptions::max_market_data);
}

TEST(ws_subscriptions, orders_pnl_and_trades_switch_on_and_off) {
    auto s = authenticated();
    EXPECT_EQ(s.apply("sor+{}").what, ws_action::orders);
    EXPECT_EQ(s.apply("spl+{}").what, ws_action::pnl);
    EXPECT_EQ(s.apply(R"(str+{"realtimeUpdatesOnly":false})").what, ws_action::trades);
    EXPECT_TRUE(s.orders() && s.pnl() && s.trades());
    EXPECT_EQ(s.to_json(), (json::object{{"authenticated", true}, {"smd", json::object{}}, {"sor", true}, {"spl", true}, {"str", true}}));
    s.apply("uor+{}");
    s.apply("upl+{}");
    s.apply("utr");
    EXPECT_FALSE(s.orders() || s.pnl() || s.trades());
}

TEST(ws_subscriptions, unknown_topics_get_an_error_naming_them) {
    auto s = authenticated();
    const auto a = s.apply("xyz+{}");
    EXPECT_EQ(a.what, ws_action::error);
    EXPECT_NE(a.text.find("xyz"), std::string::npos);
    EXPECT_EQ(s.apply("smh+1+{}").what, ws_action::error);  // history streams are not simulated
}

TEST(ws_message, messages_have_ibkr_shapes) {
    const auto now = wall_time{} + 1'800'000'000s;
    EXPECT_EQ(parse(ws_message::waiting_for_session()), (json::object{{"message", "waiting for session"}}));
    EXPECT_EQ(parse(ws_message::sts(true)), (json::object{{"topic", "sts"}, {"args", {{"authenticated", true}}}}));
    EXPECT_EQ(parse(ws_message::system_user("simuser", true)),
              (json::object{{"topic", "system"}, {"success", "simuser"}, {"isFT", false}, {"isPaper", true}}));
    EXPECT_EQ(parse(ws_message::heartbeat(now)), (json::object{{"topic", "system"}, {"hb", 1'800'000'000'000}}));
    EXPECT_EQ(parse(ws_message::error("x")).at("topic"), "error");
    const auto md = parse(ws_message::market_data(265598, {"31"}, now));
    EXPECT_EQ(md.at("topic"), "smd+265598");
    EXPECT_EQ(md.at("conid"), 265598);
    EXPECT_EQ(md.at("31").as_string(), format_price(last_price_cents(265598, now)));
}

TEST(send_queue, refuses_a_message_that_would_pass_its_bound_and_counts_bytes) {
    send_queue q(10);
    EXPECT_TRUE(q.push("12345"));
    EXPECT_TRUE(q.push("67890"));
    EXPECT_FALSE(q.push("x"));
    EXPECT_EQ(q.bytes(), 10u);
    EXPECT_EQ(q.front(), "12345");
    q.pop();
    EXPECT_EQ(q.bytes(), 5u);
    EXPECT_TRUE(q.push("abc"));
}

class fake_peer final : public ws_peer {
public:
    explicit fake_peer(std::string bearer, std::size_t user = 0) : bearer_(std::move(bearer)), user_(user) {}
    bool close() override {
        if (closed) return false;
        closed = true;
        return true;
    }
    void orders_changed() override { ++order_updates; }
    [[nodiscard]] const std::string& bearer() const override { return bearer_; }
    [[nodiscard]] std::size_t user() const override { return user_; }
    [[nodiscard]] json::object describe() const override { return {{"bearer", bearer_}}; }

    bool closed = false;
    int order_updates = 0;

private:
    std::string bearer_;
    std::size_t user_;
};

TEST(websocket_registry, closes_the_sockets_of_ended_sessions_once) {
    websocket_registry r;
    fake_peer live("live");
    fake_peer ended("ended");
    r.add(live);
    r.add(ended);
    const auto alive = [](std::string_view bearer) { return bearer == "live"; };
    EXPECT_EQ(r.close_ended(alive), 1u);
    EXPECT_TRUE(ended.closed);
    EXPECT_FALSE(live.closed);
    EXPECT_EQ(r.close_ended(alive), 0u);  // closing already: not counted twice
    EXPECT_EQ(r.stats().session_ended, 1u);
}

TEST(websocket_registry, drops_every_socket_and_lists_them_with_ids) {
    websocket_registry r;
    fake_peer a("a");
    fake_peer b("b");
    const auto id = r.add(a);
    r.add(b);
    const auto listed = r.describe();
    ASSERT_EQ(listed.size(), 2u);
    EXPECT_EQ(listed[0].at("id"), id);
    EXPECT_EQ(listed[0].at("bearer"), "a");
    r.orders_changed(0);
    EXPECT_EQ(a.order_updates, 1);
    EXPECT_EQ(r.drop_all(), 2u);
    EXPECT_TRUE(a.closed && b.closed);
    r.remove(id);
    EXPECT_EQ(r.open(), 1u);
    EXPECT_EQ(r.stats_json().at("dropped"), 2);
}

TEST(websocket_registry, sends_order_updates_only_to_the_sockets_of_the_user_whose_orders_changed) {
    websocket_registry r;
    fake_peer mine("a", 1);
    fake_peer theirs("b", 2);
    r.add(mine);
    r.add(theirs);
    r.orders_changed(1);
    EXPECT_EQ(mine.order_updates, 1);
    EXPECT_EQ(theirs.order_updates, 0);
}

}  // namespace
}  // namespace sessiond::sim
