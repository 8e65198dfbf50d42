// The gateway (/v1/api/... on the daemon's listener) against ibkr-sim: clients written for IBKR's
// Client Portal Gateway call IBKR through the daemon's session, paced so that IBKR never says 429,
// without ever ending or taking over that session.

#include "daemon_fixture.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <future>
#include <regex>
#include <sstream>
#include <thread>

namespace sessiond::testing {
namespace {

using boost::beast::http::verb;

class gateway_test : public daemon_fixture {
protected:
    static http_request_options with_headers(header_list headers) {
        http_request_options o;
        o.headers = std::move(headers);
        return o;
    }
};

TEST_F(gateway_test, a_clients_call_reaches_ibkr_with_the_sessions_login_and_comes_back_as_ibkr_answered) {
    auto& d = connected_daemon();
    auto api = d.api();
    const auto before = sim_calls(accounts_path);
    // Whatever the client sends as credentials stays with the daemon: IBKR sees the session's bearer
    // (the simulator answers 401 to any other).
    const auto r = api.get("/v1/api/iserver/accounts",
                           with_headers({{"Authorization", "Bearer client-made-up-token"},
                                         {"Cookie", "api=client-cookie"},
                                         {"Accept", "application/json"}}));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 200u) << r->body;
    EXPECT_EQ(r->header("Content-Type").substr(0, 16), "application/json");
    const auto body = r->json();
    ASSERT_TRUE(body.is_object()) << r->body;
    EXPECT_EQ(boost::json::serialize(body.at("accounts")), R"(["DU1234567"])");
    EXPECT_EQ(sim_calls(accounts_path), before + 1) << "sent once";
    EXPECT_FALSE(r->has_header("Set-Cookie")) << "IBKR's cookies stay with the session";
}

TEST_F(gateway_test, the_sessions_own_endpoints_are_refused_and_never_reach_ibkr) {
    auto& d = connected_daemon();
    auto api = d.api();
    const auto inits = sim_calls(init_path);
    const auto tokens = sim_calls(token_path);
    for (const auto& [method, target] : std::vector<std::pair<verb, std::string>>{
             {verb::post, "/v1/api/logout"},
             {verb::post, "/v1/api/iserver/auth/ssodh/init"},
             {verb::post, "/v1/api/iserver/reauthenticate"},
             {verb::post, "/oauth2/api/v1/token"},
             {verb::post, "/gw/api/v1/sso-sessions"},
             {verb::get, "/v1/api/iserver/../logout"}}) {
        const auto r = api.request(method, target);
        ASSERT_TRUE(r) << r.error().message;
        EXPECT_TRUE(r->status == 403 || r->status == 400) << target << ": " << r->status;
        EXPECT_TRUE(r->json().is_object() && r->json().as_object().contains("error")) << target << ": " << r->body;
    }
    EXPECT_EQ(sim_calls(logout_path), 0u);
    EXPECT_EQ(sim_calls(init_path), inits);
    EXPECT_EQ(sim_calls(token_path), tokens);
    const auto status = api.get("/api/ibkr/status");
    ASSERT_TRUE(status);
    EXPECT_EQ(status->json().at("status").as_string(), "connected") << status->body;
}

TEST_F(gateway_test, tickle_and_auth_status_are_answered_from_the_daemons_state_and_cost_ibkr_nothing) {
    auto& d = connected_daemon();
    auto api = d.api();
    api.keep_alive(true);
    // Thirty tickles in a moment: forwarded, IBKR's one-a-second limit would answer 429
    // (TearDown checks that the simulator refused nothing).
    for (int i = 0; i < 30; ++i) {
        const auto r = i % 2 == 0 ? api.post("/v1/api/tickle", "") : api.get("/v1/api/tickle");
        ASSERT_TRUE(r) << r.error().message;
        ASSERT_EQ(r->status, 200u) << r->body;
        const auto body = r->json();
        const auto& auth = body.at("iserver").at("authStatus");
        EXPECT_TRUE(auth.at("authenticated").as_bool());
        EXPECT_FALSE(auth.at("competing").as_bool());
        EXPECT_TRUE(auth.at("connected").as_bool());
        EXPECT_FALSE(body.at("session").as_string().empty());
    }
    const auto status = api.post("/v1/api/iserver/auth/status", "");
    ASSERT_TRUE(status);
    EXPECT_TRUE(status->json().at("authenticated").as_bool()) << status->body;
    const auto validate = api.get("/v1/api/sso/validate");
    ASSERT_TRUE(validate);
    EXPECT_TRUE(validate->json().at("RESULT").as_bool()) << validate->body;
    EXPECT_EQ(validate->json().at("LOGIN_TYPE").as_int64(), 2) << "paper";
}

TEST_F(gateway_test, a_burst_far_over_ibkrs_rate_is_paced_and_ibkr_never_says_429) {
    auto& d = connected_daemon();
    const auto before = sim_calls(accounts_path);
    std::vector<std::future<std::vector<unsigned>>> clients;
    for (int c = 0; c < 8; ++c) {
        clients.push_back(std::async(std::launch::async, [&d] {
            std::vector<unsigned> statuses;
            auto api = d.api();
            for (int i = 0; i < 6; ++i) {
                const auto r = api.get("/v1/api/iserver/accounts");
                statuses.push_back(r ? r->status : 0);
                if (r && r->status == 429) {
                    EXPECT_FALSE(r->header("Retry-After").empty());
                }
            }
            return statuses;
        }));
    }
    std::size_t ok = 0;
    for (auto& c : clients)
        for (const unsigned s : c.get()) {
            EXPECT_TRUE(s == 200 || s == 429) << s;
            ok += s == 200 ? 1 : 0;
        }
    EXPECT_GE(ok, 20u) << "most of them wait their turn rather than being refused";
    EXPECT_EQ(sim_calls(accounts_path), before + ok) << "each call that was answered 200 went once; no other";

    // What the gateway did is in the status and the metrics.
    auto api = d.api();
    const auto status = api.get("/api/ibkr/status");
    ASSERT_TRUE(status);
    const auto gw = status->json().at("gateway");
    EXPECT_TRUE(gw.at("enabled").as_bool());
    EXPECT_EQ(gw.at("clients").as_string(), "loopback only");
    EXPECT_GE(gw.at("forwarded").to_number<std::uint64_t>(), ok);
    const auto metrics = api.get("/metrics");
    ASSERT_TRUE(metrics);
    EXPECT_NE(metrics->body.find("sessiond_gateway_responses_total{class=\"account\",code=\"200\"}"), std::string::npos);
    EXPECT_NE(metrics->body.find("sessiond_gateway_queue_wait_seconds_bucket"), std::string::npos);
}

TEST_F(gateway_test, when_ibkr_ends_the_session_mid_burst_calls_work_again_without_the_client_doing_anything) {
    auto& d = connected_daemon();
    const auto logins = sim_calls(token_path);
    // Three clients keep calling; IBKR ends the SSO session once the burst is under way. A call then
    // either reaches IBKR with the dead bearer (IBKR's 401 comes back, and the session checks itself at
    // once) or waits for the session (503 when it does not come back in time); the clients do nothing
    // about it, and their calls work again.
    std::atomic<int> answered{0};
    std::promise<void> under_way;  // six calls answered
    std::vector<std::future<std::vector<unsigned>>> clients;
    for (int c = 0; c < 3; ++c) {
        clients.push_back(std::async(std::launch::async, [&d, &answered, &under_way] {
            std::vector<unsigned> statuses;
            auto client = d.api();
            for (int i = 0; i < 40; ++i) {
                const auto r = client.get("/v1/api/iserver/accounts");
                statuses.push_back(r ? r->status : 0);
                if (++answered == 6) under_way.set_value();
                if (statuses.size() >= 15 && statuses.back() == 200 &&
                    std::count(statuses.begin(), statuses.end(), 200u) > 5)
                    break;  // working again after the loss (or never lost): enough
            }
            return statuses;
        }));
    }
    under_way.get_future().wait();
    sim().expire_sessions();
    for (auto& c : clients) {
        const auto statuses = c.get();
        EXPECT_EQ(statuses.back(), 200u) << "working again at the end";
        for (const unsigned s : statuses) EXPECT_TRUE(s == 200 || s == 401 || s == 503 || s == 429) << s;
    }
    EXPECT_GT(sim_calls(token_path), logins) << "the daemon logged in again" << d.output();
}

TEST_F(gateway_test, with_a_gateway_token_every_call_must_bear_it) {
    start_sim();
    daemon_options o;
    const std::string token = "gateway-canary-" + canary_api_token().substr(0, 24);
    o.environment["SESSIOND_GATEWAY_TOKEN"] = token;
    auto& d = start_daemon(std::move(o));
    ASSERT_TRUE(d.wait_for_log("session connected")) << d.output();
    auto api = d.api();
    const auto refused = api.get("/v1/api/iserver/accounts");
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 401u);
    EXPECT_FALSE(refused->header("WWW-Authenticate").empty());
    const auto wrong = api.get("/v1/api/iserver/accounts", with_headers({{"Authorization", "Bearer " + token + "x"}}));
    EXPECT_EQ(wrong->status, 401u);
    const auto ok = api.get("/v1/api/iserver/accounts", with_headers({{"Authorization", "Bearer " + token}}));
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200u) << ok->body;
    EXPECT_EQ(d.output().find(token), std::string::npos);
    EXPECT_EQ(d.responses().find(token), std::string::npos);
}

TEST_F(gateway_test, a_body_over_the_limit_is_refused_before_it_is_read) {
    auto& d = connected_daemon();
    auto api = d.api();
    const auto r = api.post("/v1/api/iserver/account/DU1234567/orders", std::string(1024 * 1024 + 1, 'x'),
                            [] {
                                http_request_options o;
                                o.content_type = "application/json";
                                return o;
                            }());
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 413u);
    const auto small = api.post("/api/ibkr/test", std::string(20 * 1024, 'x'));
    ASSERT_TRUE(small);
    EXPECT_EQ(small->status, 413u) << "the daemon's own API keeps its 16 KiB";
}

TEST_F(gateway_test, an_order_arrives_at_ibkr_byte_exact_and_once) {
    auto& d = connected_daemon();
    auto api = d.api();
    // Odd spacing, key order and a non-ASCII character: what arrives must be these bytes.
    const std::string order =
        "{\"orders\":[ {\"conid\":265598,\"orderType\":\"LMT\", \"price\":185.5,\"side\":\"BUY\",\"quantity\":3,"
        "\"tif\":\"DAY\",\"cOID\":\"gw-test-\u00e9-1\"}]}";
    http_request_options o;
    o.content_type = "application/json";
    const auto r = api.post("/v1/api/iserver/account/DU1234567/orders", order, o);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 200u) << r->body;
    ASSERT_TRUE(r->json().is_array()) << r->body;
    EXPECT_EQ(r->json().as_array().at(0).at("order_status").as_string(), "Submitted");
    const auto bodies = sim().order_bodies();
    ASSERT_EQ(bodies.size(), 1u) << "sent once";
    EXPECT_EQ(bodies.at(0).at("body").as_string(), order);
    // Nothing a client sends is logged, not even at debug (the fixture's daemons log at debug).
    EXPECT_TRUE(d.wait_for_log("gateway: POST /v1/api/iserver/account/DU1234567/orders -> 200")) << d.output();
    EXPECT_EQ(d.output().find("gw-test-"), std::string::npos) << "the order's cOID was logged";
    EXPECT_EQ(d.output().find("265598"), std::string::npos) << "the order's conid was logged";
}

TEST_F(gateway_test, ibkrs_per_endpoint_limits_hold_whatever_the_clients_send) {
    auto& d = connected_daemon();
    // Four clients at once:
    //   - ibind subscribing to orders: two account/orders GETs at once, where IBKR allows one per 5 s:
    //     the second waits its turn instead of earning a 429;
    //   - two portfolio/accounts GETs (one per 5 s), the same;
    //   - two clients bursting snapshots (10/s allowed, 9/s left by the gateway's share).
    // Each call is paced or refused locally, never by IBKR (TearDown: the simulator's limiters refused
    // nothing).
    const std::vector<std::pair<std::string, int>> plans{
        {"/v1/api/iserver/account/orders", 2},
        {"/v1/api/portfolio/accounts", 2},
        {"/v1/api/iserver/marketdata/snapshot?conids=265598&fields=31", 15},
        {"/v1/api/iserver/marketdata/snapshot?conids=8314&fields=31,84", 15}};
    std::vector<std::future<std::vector<unsigned>>> clients;
    for (const auto& [target, n] : plans) {
        clients.push_back(std::async(std::launch::async, [&d, target = target, n = n] {
            std::vector<unsigned> statuses;
            auto client = d.api();
            for (int i = 0; i < n; ++i) {
                const auto r = client.get(target);
                statuses.push_back(r ? r->status : 0);
            }
            return statuses;
        }));
    }
    std::vector<std::vector<unsigned>> results;
    for (auto& c : clients) results.push_back(c.get());
    EXPECT_EQ(results[0], (std::vector<unsigned>{200, 200})) << "the second orders call waited for IBKR's 5 s";
    EXPECT_EQ(results[1], (std::vector<unsigned>{200, 200}));
    for (std::size_t i = 2; i < results.size(); ++i)
        for (const unsigned s : results[i]) EXPECT_TRUE(s == 200 || s == 429) << s;
    EXPECT_EQ(sim_calls("/v1/api/iserver/account/orders"), 2u);
}

TEST_F(gateway_test, history_calls_are_held_to_five_in_flight_and_a_large_answer_comes_back_whole) {
    auto o = fast_sim();
    o.history_delay = 0.5;
    start_sim(o);
    // 3.5 MB built and sent by a simulator that may run under a sanitizer: more than the tests' 2 s.
    daemon_options options;
    options.environment["IBKR_HTTP_TIMEOUT"] = "15";
    auto& d = start_daemon(std::move(options));
    ASSERT_TRUE(d.wait_for_log("session connected")) << d.output();
    std::vector<std::future<std::pair<unsigned, std::size_t>>> calls;
    for (int i = 0; i < 8; ++i) {
        calls.push_back(std::async(std::launch::async, [&d] {
            auto client = d.api();
            const auto r = client.get("/v1/api/iserver/marketdata/history?conid=265598&period=35d&bar=1min");
            return std::make_pair(r ? r->status : 0u, r ? r->body.size() : 0u);
        }));
    }
    for (auto& c : calls) {
        const auto [status, size] = c.get();
        EXPECT_EQ(status, 200u);
        EXPECT_GT(size, 3'000'000u) << "a body of several MiB is forwarded whole";
    }
    EXPECT_LE(sim().state().at("history_max_in_flight").to_number<std::int64_t>(), 5);
}

// The port the daemon's HTTPS listener logged ("gateway also on https://127.0.0.1:PORT/v1/api/").
std::uint16_t https_port_of(const daemon_process& d) {
    std::smatch m;
    const std::string out = d.output();
    if (!std::regex_search(out, m, std::regex("gateway also on https://127\\.0\\.0\\.1:([0-9]+)/v1/api/"))) return 0;
    return static_cast<std::uint16_t>(std::stoi(m[1].str()));
}

std::string file_text(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

TEST_F(gateway_test, the_https_listener_serves_the_gateway_with_a_certificate_kept_across_restarts) {
    start_sim();
    temp_dir state;
    daemon_options o;
    o.environment["SESSIOND_GATEWAY_HTTPS_LISTEN"] = "127.0.0.1:0";
    o.environment["SESSIOND_STATE_DIR"] = state.path().string();
    auto& first = start_daemon(o);
    ASSERT_TRUE(first.wait_for_log("session connected")) << first.output();
    ASSERT_TRUE(first.wait_for_log("certificate generated now and kept in")) << first.output();
    const auto ca = state.path() / "gateway-tls" / "ca.pem";
    const std::string ca_pem = file_text(ca);
    ASSERT_FALSE(ca_pem.empty());
    EXPECT_EQ(std::filesystem::status(state.path() / "gateway-tls" / "server-key.pem").permissions() &
                  std::filesystem::perms::group_all,
              std::filesystem::perms::none)
        << "the key is the daemon's alone";
    {
        // A client that verifies, trusting the kept CA, as well as one on the plain listener.
        http_client https("127.0.0.1", https_port_of(first), tls_client_settings{ca, "localhost"});
        const auto r = https.get("/v1/api/iserver/accounts");
        ASSERT_TRUE(r) << r.error().message;
        EXPECT_EQ(r->status, 200u) << r->body;
        const auto tickle = https.post("/v1/api/tickle", "");
        ASSERT_TRUE(tickle);
        EXPECT_EQ(tickle->status, 200u);
    }
    ASSERT_EQ(first.stop(), 0);
    auto& second = start_daemon(o);
    ASSERT_TRUE(second.wait_for_log("certificate generated at an earlier start")) << second.output();
    EXPECT_EQ(file_text(ca), ca_pem) << "the same certificate after a restart: clients that pinned it keep working";
    http_client https("127.0.0.1", https_port_of(second), tls_client_settings{ca, "127.0.0.1"});
    const auto r = https.get("/livez");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 200u);
}

TEST_F(gateway_test, with_the_gateway_off_the_daemon_serves_no_ibkr_path) {
    start_sim();
    daemon_options o;
    o.environment["SESSIOND_GATEWAY"] = "off";
    auto& d = start_daemon(std::move(o));
    ASSERT_TRUE(d.wait_for_log("session connected")) << d.output();
    EXPECT_TRUE(d.wait_for_log("gateway off"));
    auto api = d.api();
    for (const char* target : {"/v1/api/iserver/accounts", "/v1/api/tickle", "/v1/api/logout"}) {
        const auto r = api.get(target);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 404u) << target;
    }
    EXPECT_EQ(sim_calls(logout_path), 0u);
}

}  // namespace
}  // namespace sessiond::testing
