// The gateway's WebSocket (ws://<SESSIOND_LISTEN>/v1/api/ws) against ibkr-sim's: CP-Gateway-style
// clients subscribe through the daemon, share its one upstream socket, and keep their subscriptions
// across an upstream drop and a re-login without doing anything.

#include "daemon_fixture.hpp"
#include "support/temp_dir.hpp"
#include "support/ws_test_client.hpp"

#include <regex>

#include <boost/beast/websocket/error.hpp>
#include <boost/json/serialize.hpp>

namespace sessiond::testing {
namespace {

using tcp = boost::asio::ip::tcp;

const std::string md_subscribe = R"(smd+265598+{"fields":["31","84","86"]})";
const std::string md_topic = R"("topic":"smd+265598")";
const std::string sts_true = R"({"topic":"sts","args":{"authenticated":true}})";

class gateway_websocket_test : public daemon_fixture {
protected:
    static sim_options ws_sim() {
        sim_options o = fast_sim();
        o.ws_market_data_interval = 0.05;
        return o;
    }

    daemon_process& ws_daemon(daemon_options o = {}, sim_options s = ws_sim()) {
        start_sim(std::move(s));
        auto& d = start_daemon(std::move(o));
        EXPECT_TRUE(d.wait_for_log("session connected")) << d.output();
        return d;
    }

    // A client of the daemon's WebSocket, kept until the end of the test (TearDown reads what it got).
    ws_test_client& client(daemon_process& d, std::vector<std::pair<std::string, std::string>> headers = {}) {
        const auto port = d.api_port();
        EXPECT_TRUE(port);
        clients_.push_back(std::make_unique<ws_test_client>(
            tcp::endpoint(boost::asio::ip::address_v4::loopback(), port.value_or(0)), std::move(headers)));
        return *clients_.back();
    }

    // The subscriptions of the simulator's one open socket: {"smd":{"<conid>":[..]},"sor":bool,...}.
    boost::json::object upstream_subscriptions() {
        const auto sockets = sim().websockets();
        EXPECT_EQ(sockets.size(), 1u) << boost::json::serialize(sockets) << " (one upstream socket per user)";
        if (sockets.empty()) return {};
        return sockets.front().at("subscriptions").as_object();
    }

    bool upstream_has_market_data(std::string_view conid) {
        const auto subs = upstream_subscriptions();
        const auto* smd = subs.if_contains("smd");
        return smd != nullptr && smd->is_object() && smd->as_object().contains(conid);
    }

    void TearDown() override {
        // No client frame ever carries a token the simulator issued (the SSO bearer among them).
        const std::vector<std::string> tokens = sim_ ? sim_->issued_tokens() : std::vector<std::string>{};
        for (const auto& c : clients_)
            if (!daemons_.empty()) expect_no_secrets(c->transcript(), daemons_.front()->private_key_pem(), tokens, "WebSocket frames");
        daemon_fixture::TearDown();
    }

private:
    std::vector<std::unique_ptr<ws_test_client>> clients_;
};

TEST_F(gateway_websocket_test, a_subscription_goes_through_the_daemon_and_its_updates_come_back) {
    auto& d = ws_daemon();
    auto& c = client(d, {{"Cookie", "api=the-clients-own-value"}});
    ASSERT_TRUE(c.upgraded()) << c.refused_status() << " " << c.refused_body();
    c.send(md_subscribe);
    const std::string update = c.read_until_containing(md_topic);
    ASSERT_FALSE(update.empty()) << c.error().message() << "\n" << d.output();
    EXPECT_NE(update.find(R"("31")"), std::string::npos) << update;
    EXPECT_TRUE(upstream_has_market_data("265598"));
    c.send("ech+hb");
    EXPECT_TRUE(c.read_until("ech+hb"));
    EXPECT_TRUE(d.wait_for_log("WebSocket client #1 opened"));
}

TEST_F(gateway_websocket_test, two_clients_share_one_upstream_subscription_and_one_unsubscribing_does_not_stop_the_other) {
    auto& d = ws_daemon();
    auto& a = client(d);
    auto& b = client(d);
    ASSERT_TRUE(a.upgraded() && b.upgraded());
    a.send(md_subscribe);
    ASSERT_FALSE(a.read_until_containing(md_topic).empty());
    b.send(md_subscribe);
    ASSERT_FALSE(b.read_until_containing(md_topic).empty());
    b.send("umd+265598+{}");
    b.send("ech+hb");
    ASSERT_TRUE(b.read_until("ech+hb"));  // the daemon has handled the unsubscribe
    EXPECT_TRUE(upstream_has_market_data("265598")) << "a still holds it";
    for (int i = 0; i < 3; ++i) EXPECT_FALSE(a.read_until_containing(md_topic).empty()) << "updates keep coming to a";
    EXPECT_EQ(sim().websockets().size(), 1u);
}

TEST_F(gateway_websocket_test, an_upstream_drop_ends_with_the_subscriptions_resent_and_updates_flowing_again) {
    auto& d = ws_daemon();
    auto& c = client(d);
    ASSERT_TRUE(c.upgraded());
    c.send(md_subscribe);
    c.send("sor+{}");
    ASSERT_FALSE(c.read_until_containing(md_topic).empty());
    ASSERT_TRUE(upstream_has_market_data("265598"));
    EXPECT_EQ(sim().drop_websockets(), 1u);
    // The new upstream's sts comes before anything it sends: the update after it is the new socket's.
    ASSERT_TRUE(c.read_until(sts_true)) << c.error().message() << "\n" << d.output();
    ASSERT_FALSE(c.read_until_containing(md_topic).empty()) << d.output();
    EXPECT_TRUE(upstream_has_market_data("265598"));
    EXPECT_TRUE(upstream_subscriptions().at("sor").as_bool());
    EXPECT_TRUE(d.wait_for_log("IBKR's WebSocket reopened"));
    auto api = d.api();
    const auto status = api.get("/api/ibkr/status");
    ASSERT_TRUE(status);
    const auto body = status->json();
    const auto& ws = body.at("gateway").at("websockets");
    EXPECT_EQ(ws.at("open").to_number<int>(), 1) << status->body;
    EXPECT_EQ(ws.at("upstream_reconnects").to_number<int>(), 1) << status->body;
    EXPECT_GT(ws.at("frames_to_clients").to_number<int>(), 0) << status->body;
    const auto metrics = api.get("/metrics");
    ASSERT_TRUE(metrics);
    EXPECT_NE(metrics->body.find("sessiond_gateway_websockets_open 1\n"), std::string::npos) << metrics->body;
    EXPECT_NE(metrics->body.find("sessiond_gateway_websocket_upstream_reconnects_total 1\n"), std::string::npos);
}

TEST_F(gateway_websocket_test, wss_on_the_https_listener_relays_the_same_way) {
    temp_dir state;
    daemon_options o;
    o.environment["SESSIOND_GATEWAY_HTTPS_LISTEN"] = "127.0.0.1:0";
    o.environment["SESSIOND_STATE_DIR"] = state.path().string();
    auto& d = ws_daemon(std::move(o));
    ASSERT_TRUE(d.wait_for_log("gateway also on https://127.0.0.1:")) << d.output();
    std::smatch m;
    const std::string out = d.output();
    ASSERT_TRUE(std::regex_search(out, m, std::regex("gateway also on https://127\\.0\\.0\\.1:([0-9]+)/v1/api/")));
    const auto port = static_cast<std::uint16_t>(std::stoi(m[1].str()));
    ws_test_client c(tcp::endpoint(boost::asio::ip::address_v4::loopback(), port), {}, "/v1/api/ws",
                     tls_client_settings{state.path() / "gateway-tls" / "ca.pem", "localhost"});
    ASSERT_TRUE(c.upgraded()) << c.error().message() << " " << c.refused_status() << " " << c.refused_body();
    c.send(md_subscribe);
    EXPECT_FALSE(c.read_until_containing(md_topic).empty()) << c.error().message() << "\n" << d.output();
    const std::vector<std::string> tokens = sim().issued_tokens();
    expect_no_secrets(c.transcript(), d.private_key_pem(), tokens, "wss frames");
    c.close();
}

TEST_F(gateway_websocket_test, a_relogin_ends_with_the_subscriptions_resent_and_updates_flowing_again) {
    auto& d = ws_daemon();
    auto& c = client(d);
    ASSERT_TRUE(c.upgraded());
    c.send(md_subscribe);
    ASSERT_FALSE(c.read_until_containing(md_topic).empty());
    const auto logins = sim_calls(token_path);
    sim().expire_sessions();
    ASSERT_TRUE(c.read_until(sts_true)) << c.error().message() << "\n" << d.output();
    ASSERT_FALSE(c.read_until_containing(md_topic).empty()) << d.output();
    EXPECT_TRUE(upstream_has_market_data("265598"));
    EXPECT_GT(sim_calls(token_path), logins) << "the daemon logged in again";
}

TEST_F(gateway_websocket_test, a_client_that_does_not_read_is_cut_off_alone) {
    sim_options fast_updates = ws_sim();
    fast_updates.ws_market_data_interval = 0.01;
    auto& d = ws_daemon({}, fast_updates);
    auto& slow = client(d);
    auto& reader = client(d);
    ASSERT_TRUE(slow.upgraded() && reader.upgraded());
    // A hundred market data streams at 100 updates a second each: megabytes a second.
    std::string fields = R"({"fields":["31","55","70","71","82","83","84","85","86","87","88","7295","7296"]})";
    for (int conid = 1000; conid < 1100; ++conid) slow.send("smd+" + std::to_string(conid) + "+" + fields);
    reader.send("smd+1000+" + fields);
    ASSERT_TRUE(d.wait_for_log("cut off: too slow", 1, std::chrono::seconds(60))) << d.output();
    // The slow client reads now: what was sent before the cut, then the close frame.
    (void)slow.read_until("never");
    EXPECT_TRUE(slow.error());
    // It started reading within the cut-off's grace (5 s): the close frame got through.
    EXPECT_EQ(slow.error(), boost::beast::websocket::error::closed) << slow.error().message();
    EXPECT_EQ(slow.close_reason().code, boost::beast::websocket::close_code::policy_error);
    EXPECT_EQ(slow.close_reason().reason, "too slow");
    // The other client is still served.
    ASSERT_FALSE(reader.read_until_containing(R"("topic":"smd+1000")").empty());
    reader.send("ech+hb");
    EXPECT_TRUE(reader.read_until("ech+hb"));
    EXPECT_EQ(d.count_in_log("cut off"), 1u);
}

TEST_F(gateway_websocket_test, while_the_session_does_not_serve_clients_the_upgrade_waits_then_gets_503) {
    start_sim(ws_sim());
    daemon_options o;
    o.private_key_pem = other_rsa_key().pkcs8_pem;  // IBKR refuses every login
    o.environment["SESSIOND_GATEWAY_MAX_WAIT"] = "0.2";
    auto& d = start_daemon(std::move(o));
    ASSERT_TRUE(d.wait_for_log("oauth failed: HTTP 401")) << d.output();
    auto& c = client(d);
    EXPECT_FALSE(c.upgraded());
    EXPECT_EQ(c.refused_status(), 503u);
    EXPECT_FALSE(c.refused_retry_after().empty());
    EXPECT_NE(c.refused_body().find("not connected"), std::string::npos) << c.refused_body();
    EXPECT_EQ(sim().websockets().size(), 0u);
}

TEST_F(gateway_websocket_test, a_plain_get_is_told_to_upgrade) {
    auto& d = ws_daemon();
    auto api = d.api();
    const auto r = api.get("/v1/api/ws");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 426u) << r->body;
}

TEST_F(gateway_websocket_test, with_a_gateway_token_the_upgrade_needs_it_as_a_bearer_or_a_cookie) {
    start_sim(ws_sim());
    daemon_options o;
    const std::string token = "gateway-canary-" + canary_api_token().substr(0, 24);
    o.environment["SESSIOND_GATEWAY_TOKEN"] = token;
    auto& d = start_daemon(std::move(o));
    ASSERT_TRUE(d.wait_for_log("session connected")) << d.output();
    auto& none = client(d);
    EXPECT_FALSE(none.upgraded());
    EXPECT_EQ(none.refused_status(), 401u);
    auto& wrong = client(d, {{"Cookie", "sessiond_gateway_token=" + token + "x"}});
    EXPECT_EQ(wrong.refused_status(), 401u);
    auto& by_cookie = client(d, {{"Cookie", "api=x; sessiond_gateway_token=" + token}});
    EXPECT_TRUE(by_cookie.upgraded()) << by_cookie.refused_status();
    auto& by_header = client(d, {{"Authorization", "Bearer " + token}});
    EXPECT_TRUE(by_header.upgraded()) << by_header.refused_status();
    EXPECT_EQ(d.output().find(token), std::string::npos);
}

TEST_F(gateway_websocket_test, beyond_the_socket_cap_the_upgrade_is_refused_and_livez_still_answers) {
    auto& d = ws_daemon();
    for (int i = 0; i < 256; ++i) {
        auto& c = client(d);
        ASSERT_TRUE(c.upgraded()) << i << ": " << c.refused_status();
    }
    auto& over = client(d);
    EXPECT_FALSE(over.upgraded());
    EXPECT_EQ(over.refused_status(), 503u);
    EXPECT_FALSE(over.refused_retry_after().empty());
    auto api = d.api();
    const auto livez = api.get("/livez");
    ASSERT_TRUE(livez);
    EXPECT_EQ(livez->status, 200u);
    EXPECT_EQ(sim().websockets().size(), 1u) << "one upstream for all of them";
}

}  // namespace
}  // namespace sessiond::testing
