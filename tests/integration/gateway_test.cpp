// The gateway (/v1/api/... on the daemon's listener) against ibkr-sim: clients written for IBKR's
// Client Portal Gateway call IBKR through the daemon's session, paced so that IBKR never says 429,
// without ever ending or taking over that session.

#include "daemon_fixture.hpp"

#include <boost/json/serialize.hpp>

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

TEST_F(gateway_test, when_ibkr_ends_the_session_calls_work_again_without_the_client_doing_anything) {
    auto& d = connected_daemon();
    auto api = d.api();
    ASSERT_EQ(api.get("/v1/api/iserver/accounts")->status, 200u);
    const auto logins = sim_calls(token_path);
    sim().expire_sessions();
    // The next call either reaches IBKR with the dead bearer (IBKR's 401 comes back, and the session
    // checks itself at once) or waits for the session that the daemon's own tickle found dead.
    bool worked_again = false;
    std::vector<unsigned> seen;
    for (int i = 0; i < 40 && !worked_again; ++i) {
        const auto r = api.get("/v1/api/iserver/accounts");
        ASSERT_TRUE(r) << r.error().message;
        seen.push_back(r->status);
        worked_again = r->status == 200;
        EXPECT_TRUE(r->status == 200 || r->status == 401 || r->status == 503) << r->status << " " << r->body;
    }
    EXPECT_TRUE(worked_again) << d.output();
    EXPECT_GT(sim_calls(token_path), logins) << "the daemon logged in again";
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
