// The daemon's HTTP API, served by the real binary against ibkr-sim: the status JSON in every state,
// the probes, the metrics, the connection test and its token, and what bad clients get.

#include "integration/daemon_fixture.hpp"
#include "support/prometheus_parser.hpp"
#include "support/raw_socket.hpp"

#include <boost/json.hpp>

#include <future>
#include <thread>

namespace sessiond::testing {
namespace {

namespace json = boost::json;
using boost::beast::http::verb;

constexpr std::string_view api_token = "test-api-token-0123456789abcdef";

class service_api : public daemon_fixture {
protected:
    static daemon_options with_token(daemon_options o = {}) {
        o.environment["SESSIOND_API_TOKEN"] = std::string(api_token);
        return o;
    }

    // GET, failing the test on a transport error; every response of the API is checked for secrets.
    http_result get(daemon_process& d, std::string_view target) {
        auto r = d.api().get(target);
        if (!r) {
            ADD_FAILURE() << "GET " << target << ": " << r.error().message;
            return {};
        }
        check_no_secrets(d, r->body, target);
        return std::move(*r);
    }

    json::object status(daemon_process& d) {
        const http_result r = get(d, "/api/ibkr/status");
        EXPECT_EQ(r.status, 200u);
        EXPECT_EQ(r.header("Content-Type"), "application/json");
        const json::value v = r.json();
        EXPECT_TRUE(v.is_object()) << r.body;
        return v.is_object() ? v.as_object() : json::object{};
    }

    http_result post_test(daemon_process& d, std::optional<std::string_view> token) {
        http_request_options o;
        if (token) o.headers.emplace_back("Authorization", "Bearer " + std::string(*token));
        o.timeout = std::chrono::seconds(60);
        auto r = d.api().post("/api/ibkr/test", "", o);
        if (!r) {
            ADD_FAILURE() << "POST /api/ibkr/test: " << r.error().message;
            return {};
        }
        check_no_secrets(d, r->body, "/api/ibkr/test");
        return std::move(*r);
    }

    void check_no_secrets(daemon_process& d, std::string_view body, std::string_view what) {
        expect_no_secrets(body, d.private_key_pem(), sim().issued_tokens(), what);
        EXPECT_EQ(body.find(api_token), std::string_view::npos) << what << " contains the API token";
    }

    // A daemon whose first login failed (one 500 on the token) and that now waits out a 10-minute
    // backoff: only a connection test can make it log in before the test ends.
    daemon_process& daemon_in_long_backoff() {
        start_sim();
        fault(R"({"path":"/oauth2/api/v1/token","action":"status","status":500,"count":1})");
        daemon_options o = with_token();
        o.environment["SESSIOND_BACKOFF_INITIAL"] = "600";
        o.environment["SESSIOND_BACKOFF_MAX"] = "600";
        auto& d = start_daemon(o);
        EXPECT_TRUE(d.wait_for_log("oauth failed: HTTP 500")) << d.output();
        return d;
    }
};

std::string text(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

bool flag(const json::object& o, std::string_view object, std::string_view key) {
    const auto* v = o.if_contains(object);
    if (v == nullptr || !v->is_object()) return false;
    const auto* f = v->as_object().if_contains(key);
    return f != nullptr && f->is_bool() && f->as_bool();
}

TEST_F(service_api, status_not_configured_names_the_missing_settings_and_readiness_fails) {
    start_sim();
    daemon_options o = with_token();
    o.environment["IBKR_CLIENT_ID"] = std::nullopt;
    o.environment["IBKR_TICKLE_INTERVAL"] = "soon";
    auto& d = start_daemon(o);

    const json::object s = status(d);
    EXPECT_EQ(text(s, "status"), "not_configured");
    EXPECT_EQ(text(s, "state"), "not_configured");
    const std::string problems = json::serialize(s.at("problems"));
    EXPECT_NE(problems.find("IBKR_CLIENT_ID"), std::string::npos) << problems;
    EXPECT_NE(problems.find("IBKR_TICKLE_INTERVAL"), std::string::npos) << problems;
    EXPECT_TRUE(s.at("counters").is_null());
    EXPECT_EQ(text(s.at("daemon").as_object(), "version").empty(), false);

    EXPECT_EQ(get(d, "/livez").status, 200u);
    EXPECT_EQ(get(d, "/healthz").status, 200u);
    const http_result ready = get(d, "/readyz?verbose");
    EXPECT_EQ(ready.status, 503u);
    EXPECT_NE(ready.body.find("[-]configured failed"), std::string::npos) << ready.body;

    const http_result test = post_test(d, api_token);
    EXPECT_EQ(test.status, 409u) << test.body;
    EXPECT_NE(test.body.find("IBKR_CLIENT_ID"), std::string::npos) << test.body;
    EXPECT_EQ(sim_calls(token_path), 0u);
}

TEST_F(service_api, status_while_connecting_shows_the_step_in_progress) {
    start_sim();
    fault(R"({"path":"/oauth2/api/v1/token","action":"hang"})");
    auto& d = start_daemon();
    ASSERT_TRUE(sim().await_calls(token_path, 1, 20s)) << d.output();

    const json::object s = status(d);
    EXPECT_EQ(text(s, "status"), "configured_not_connected");
    EXPECT_EQ(text(s, "state"), "connecting");
    EXPECT_EQ(text(s, "step"), "oauth");
    EXPECT_EQ(text(s, "environment"), "paper");
    EXPECT_EQ(text(s, "account_id"), "DU1234567");
    EXPECT_EQ(text(s, "base_url"), sim().base_url());
    EXPECT_FALSE(flag(s, "brokerage", "authenticated"));
    EXPECT_TRUE(s.at("last_tickle_at").is_null());
    EXPECT_EQ(get(d, "/readyz").status, 503u);
    EXPECT_EQ(get(d, "/livez").status, 200u) << "liveness never waits for IBKR";
}

TEST_F(service_api, status_when_connected_answers_every_question_of_the_guide) {
    auto& d = connected_daemon();
    ASSERT_TRUE(sim().await_calls(tickle_path, 1, 15s));
    ASSERT_TRUE(d.wait_for_log("tickle: HTTP 200")) << d.output();

    const json::object s = status(d);
    EXPECT_EQ(text(s, "status"), "connected");
    EXPECT_EQ(text(s, "state"), "connected");
    EXPECT_EQ(text(s, "environment"), "paper");
    EXPECT_EQ(text(s, "login_type"), "paper");
    EXPECT_EQ(text(s, "account_id"), "DU1234567");
    EXPECT_EQ(text(s, "base_url"), sim().base_url());
    for (const auto* f : {"authenticated", "connected"}) EXPECT_TRUE(flag(s, "brokerage", f)) << f;
    EXPECT_FALSE(flag(s, "brokerage", "competing"));
    // As IBKR last reported it: init says false before /accounts, and tickles do not carry it.
    EXPECT_TRUE(s.at("brokerage").as_object().at("established").is_bool());
    EXPECT_GT(s.at("sso_expires_in_seconds").to_number<double>(), 0.0);
    EXPECT_FALSE(text(s.at("server").as_object(), "name").empty());
    EXPECT_FALSE(text(s, "last_tickle_at").empty());
    EXPECT_TRUE(s.at("last_error").is_null());
    EXPECT_EQ(s.at("consecutive_failures").to_number<int>(), 0);
    EXPECT_TRUE(s.at("problems").as_array().empty());
    EXPECT_EQ(s.at("counters").as_object().at("logins").to_number<int>(), 1);
    EXPECT_GE(s.at("daemon").as_object().at("uptime_seconds").to_number<double>(), 0.0);
    EXPECT_NE(text(s, "message").find("connected as DU1234567 (paper)"), std::string::npos) << text(s, "message");

    const http_result ready = get(d, "/readyz");
    EXPECT_EQ(ready.status, 200u) << ready.body;
    EXPECT_EQ(get(d, "/readyz?verbose").body.find("[-]"), std::string::npos);
}

TEST_F(service_api, status_while_reconnecting_gives_the_last_error_and_the_next_retry) {
    auto& d = connected_daemon();
    fault(R"({"path":"/v1/api/tickle","action":"status","status":503,"count":-1})");
    ASSERT_TRUE(d.wait_for_log("session lost")) << d.output();
    ASSERT_TRUE(d.wait_for_log("tickle failed: HTTP 503", 2)) << d.output();

    const json::object s = status(d);
    EXPECT_EQ(text(s, "status"), "configured_not_connected");
    EXPECT_EQ(text(s, "state"), "reconnecting");
    const json::object& e = s.at("last_error").as_object();
    EXPECT_EQ(text(e, "step"), "tickle");
    EXPECT_EQ(e.at("http_status").to_number<int>(), 503);
    EXPECT_FALSE(text(e, "message").empty());
    EXPECT_FALSE(text(e, "at").empty());
    EXPECT_GE(s.at("consecutive_failures").to_number<int>(), 1);
    EXPECT_GE(s.at("counters").as_object().at("reconnects").to_number<int>(), 1);
    EXPECT_EQ(get(d, "/readyz").status, 503u);

    sim().clear_faults();
    ASSERT_TRUE(d.wait_for_log("session connected", 2)) << d.output();
    EXPECT_EQ(text(status(d), "status"), "connected");
}

TEST_F(service_api, status_while_competing_says_so_and_readiness_fails) {
    daemon_options o;
    o.environment["IBKR_COMPETE"] = "false";
    auto& d = connected_daemon(o);
    sim().set_competing(true);
    ASSERT_TRUE(d.wait_for_log("IBKR_COMPETE=false: waiting")) << d.output();

    const json::object s = status(d);
    EXPECT_EQ(text(s, "status"), "configured_not_connected");
    EXPECT_EQ(text(s, "state"), "competing");
    EXPECT_TRUE(flag(s, "brokerage", "competing"));
    const http_result ready = get(d, "/readyz?verbose");
    EXPECT_EQ(ready.status, 503u);
    EXPECT_NE(ready.body.find("[-]not-competing failed"), std::string::npos) << ready.body;
}

TEST_F(service_api, unknown_paths_are_404_and_wrong_methods_405_as_json) {
    auto& d = connected_daemon();
    const http_result missing = get(d, "/nope");
    EXPECT_EQ(missing.status, 404u);
    EXPECT_EQ(missing.json().as_object().at("status").to_number<int>(), 404);

    auto client = d.api();
    const auto wrong = client.request(verb::delete_, "/api/ibkr/status");
    ASSERT_TRUE(wrong);
    EXPECT_EQ(wrong->status, 405u);
    EXPECT_EQ(wrong->header("Allow"), "GET");
    EXPECT_TRUE(wrong->json().is_object()) << wrong->body;

    const auto get_test = client.get("/api/ibkr/test");
    ASSERT_TRUE(get_test);
    EXPECT_EQ(get_test->status, 405u);
    EXPECT_EQ(get_test->header("Allow"), "POST");
}

TEST_F(service_api, connection_test_is_403_without_a_configured_token) {
    daemon_options o;
    o.api_token.clear();
    auto& d = connected_daemon(o);
    const http_result r = post_test(d, "anything-at-all-1234");
    EXPECT_EQ(r.status, 403u);
    EXPECT_NE(r.body.find("SESSIOND_API_TOKEN"), std::string::npos) << r.body;
}

TEST_F(service_api, connection_test_is_401_without_or_with_a_wrong_token) {
    auto& d = connected_daemon(with_token());
    const auto logins = sim_calls(token_path);
    for (const auto token : {std::optional<std::string_view>{}, std::optional<std::string_view>{"wrong-token-0123456789abcdef"},
                             std::optional<std::string_view>{std::string_view(api_token).substr(1)}}) {
        const http_result r = post_test(d, token);
        EXPECT_EQ(r.status, 401u) << r.body;
        EXPECT_EQ(r.header("WWW-Authenticate"), "Bearer realm=\"ibkr-sessiond\"");
    }
    EXPECT_EQ(sim_calls(token_path), logins) << "a refused test must not touch IBKR";
}

TEST_F(service_api, connection_test_verifies_a_healthy_session_without_logging_in_again) {
    auto& d = connected_daemon(with_token());
    const auto logins = sim_calls(token_path);
    const http_result r = post_test(d, api_token);
    ASSERT_EQ(r.status, 200u) << r.body;
    const json::object body = r.json().as_object();
    EXPECT_TRUE(body.at("passed").as_bool()) << r.body;
    EXPECT_EQ(text(body, "status"), "connected");
    std::vector<std::string> steps;
    for (const auto& s : body.at("step_results").as_array()) steps.push_back(text(s.as_object(), "step"));
    EXPECT_EQ(steps, (std::vector<std::string>{"oauth", "sso", "validate", "init"}));
    EXPECT_EQ(sim_calls(token_path), logins) << "a healthy session is verified, not torn down";
}

TEST_F(service_api, connection_test_during_a_long_backoff_logs_in_now) {
    auto& d = daemon_in_long_backoff();
    EXPECT_EQ(text(status(d), "state"), "connecting");

    const http_result r = post_test(d, api_token);
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_TRUE(r.json().as_object().at("passed").as_bool()) << r.body;
    EXPECT_EQ(text(status(d), "status"), "connected");
    EXPECT_EQ(sim_calls(token_path), 2u);
}

TEST_F(service_api, concurrent_connection_tests_share_one_run) {
    auto& d = daemon_in_long_backoff();
    // The test's login hangs at the token step until the HTTP timeout: the second test arrives while
    // the first is certainly running.
    fault(R"({"path":"/oauth2/api/v1/token","action":"hang","count":1})");
    auto first = std::async(std::launch::async, [&] { return post_test(d, api_token); });
    ASSERT_TRUE(sim().await_calls(token_path, 2, 20s));
    auto second = std::async(std::launch::async, [&] { return post_test(d, api_token); });
    const http_result a = first.get();
    const http_result b = second.get();
    ASSERT_EQ(a.status, 200u) << a.body;
    ASSERT_EQ(b.status, 200u) << b.body;
    EXPECT_EQ(a.body, b.body) << "one run, one report";
    EXPECT_FALSE(a.json().as_object().at("passed").as_bool());
    EXPECT_EQ(text(a.json().as_object(), "failed_step"), "oauth");
    EXPECT_EQ(sim_calls(token_path), 2u) << "the second test must not start another login";
}

TEST_F(service_api, metrics_parse_as_prometheus_text_and_tell_the_session_state) {
    auto& d = connected_daemon();
    ASSERT_TRUE(sim().await_calls(tickle_path, 1, 15s));
    ASSERT_TRUE(d.wait_for_log("tickle: HTTP 200")) << d.output();
    (void)get(d, "/livez");
    const http_result r = get(d, "/metrics");
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(r.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    const auto parsed = parse_prometheus_text(r.body);
    ASSERT_TRUE(parsed) << parsed.error().message << "\n" << r.body;
    const label_map account{{"account", "DU1234567"}};
    EXPECT_EQ(parsed->value_of("ibkr_session_up", account), 1.0);
    EXPECT_EQ(parsed->value_of("ibkr_session_state", {{"account", "DU1234567"}, {"state", "connected"}}), 1.0);
    EXPECT_EQ(parsed->value_of("ibkr_logins_total", account), 1.0);
    EXPECT_GE(parsed->value_of("ibkr_tickles_total", account).value_or(0), 1.0);
    EXPECT_GE(parsed->value_of("ibkr_request_duration_seconds_count", {{"account", "DU1234567"}, {"endpoint", "oauth"}})
                  .value_or(0),
              1.0);
    EXPECT_GE(parsed->value_of("sessiond_http_requests_total", {{"path", "/livez"}, {"code", "200"}}).value_or(0), 1.0);
    EXPECT_TRUE(parsed->family("sessiond_build_info"));
}

TEST_F(service_api, malformed_and_oversized_requests_are_refused_and_the_session_carries_on) {
    auto& d = connected_daemon();
    const auto port = d.api_port();
    ASSERT_TRUE(port);

    const raw_reply garbage = raw_exchange(*port, "\x16\x03\x01 not http at all\r\n\r\n");
    EXPECT_EQ(first_status(garbage.bytes), 400u) << garbage.bytes;
    EXPECT_TRUE(garbage.closed_by_server);

    const std::string huge_header = "GET /livez HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(64 * 1024, 'a') + "\r\n\r\n";
    const raw_reply oversized = raw_exchange(*port, huge_header);
    EXPECT_EQ(first_status(oversized.bytes), 431u) << oversized.bytes.substr(0, 200);

    const raw_reply big_body = raw_exchange(
        *port, "POST /api/ibkr/test HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n" + std::string(1024, 'x'));
    EXPECT_EQ(first_status(big_body.bytes), 413u) << big_body.bytes;

    // Two pipelined requests in one send: two answers, in order.
    const raw_reply pipelined = raw_exchange(*port,
                                             "GET /livez HTTP/1.1\r\nHost: x\r\n\r\n"
                                             "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const auto second_at = pipelined.bytes.find("HTTP/1.1 404");
    EXPECT_EQ(first_status(pipelined.bytes), 200u) << pipelined.bytes;
    EXPECT_NE(second_at, std::string::npos) << pipelined.bytes;

    const auto tickles = sim_calls(tickle_path);
    ASSERT_TRUE(sim().await_calls(tickle_path, tickles + 1, 15s));
    EXPECT_EQ(text(status(d), "status"), "connected");
    EXPECT_EQ(d.count_in_log("session lost"), 0u);
}

TEST_F(service_api, listening_beyond_loopback_without_a_token_refuses_to_start) {
    start_sim();
    temp_dir dir;
    environment_overrides env = daemon_environment(sim(), dir.write("key.pem", shared_rsa_key().pkcs8_pem));
    env["SESSIOND_LISTEN"] = "0.0.0.0:0";
    const command_result r = run_sessiond(env, {"run"});
    EXPECT_EQ(r.exit_code, 78) << r.err;
    EXPECT_NE(r.err.find("SESSIOND_API_TOKEN"), std::string::npos) << r.err;
    EXPECT_EQ(sim_calls(token_path), 0u);

    env["SESSIOND_LISTEN"] = "not-an-address";
    const command_result bad = run_sessiond(env, {"run"});
    EXPECT_EQ(bad.exit_code, 78) << bad.err;
    EXPECT_NE(bad.err.find("SESSIOND_LISTEN"), std::string::npos) << bad.err;
}

TEST_F(service_api, listens_on_ipv6_loopback) {
    start_sim();
    daemon_options o;
    o.environment["SESSIOND_LISTEN"] = "[::1]:0";
    auto& d = start_daemon(o);
    ASSERT_TRUE(d.wait_for_log("API listening on http://[::1]:")) << d.output();
    const std::string log = d.log();
    const auto at = log.find("http://[::1]:") + std::string_view("http://[::1]:").size();
    const auto port = static_cast<std::uint16_t>(std::stoul(log.substr(at, log.find(' ', at) - at)));
    http_client client("::1", port);
    const auto r = client.get("/livez");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 200u);
}

}  // namespace
}  // namespace sessiond::testing
