// ibkr-sim as a real process over real TLS: the ready line, a whole session, every fault, the control
// API's long poll, certificate host checks and a clean exit on SIGTERM.

#include "ibkr_requests.hpp"
#include "support/http_client.hpp"
#include "support/sim_process.hpp"
#include "support/subprocess.hpp"
#include "support/temp_dir.hpp"
#include "support/test_keys.hpp"

#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <functional>
#include <map>
#include <sstream>
#include <thread>

namespace sessiond::sim {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using sessiond::testing::http_client;
using sessiond::testing::http_request_options;
using sessiond::testing::http_result;
using sessiond::testing::output_stream;
using sessiond::testing::sim_options;
using sessiond::testing::sim_process;
using sessiond::testing::subprocess;
using sessiond::testing::subprocess_options;
using requests::open_sso_session;
using requests::with_bearer;

constexpr std::string_view token_path = "/oauth2/api/v1/token";
constexpr std::string_view tickle_path = "/v1/api/tickle";

std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

http_request_options form() {
    http_request_options o;
    o.content_type = "application/x-www-form-urlencoded";
    return o;
}

// Polls /control/state (control requests never count as IBKR requests) until `done` or the timeout:
// for state changes that no request records, such as the end of a timed maintenance.
bool wait_for_state(sim_process& sim, const std::function<bool(const json::object&)>& done,
                    std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (done(sim.state())) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(20ms);
    }
}

std::int64_t number(const json::value& v) { return v.to_number<std::int64_t>(); }

json::object last_event(sim_process& sim) {
    const auto events = sim.events(0).at("events").as_array();
    return events.empty() ? json::object{} : events.back().as_object();
}

TEST(sim_process, prints_one_ready_line_with_both_ports_and_the_ca_file) {
    sim_process sim;
    EXPECT_NE(sim.https_port(), 0);
    EXPECT_NE(sim.control_port(), 0);
    EXPECT_NE(sim.https_port(), sim.control_port());
    EXPECT_TRUE(sim.ca_file().is_absolute());
    EXPECT_NE(read_file(sim.ca_file()).find("BEGIN CERTIFICATE"), std::string::npos);
    EXPECT_EQ(sim.base_url(), "https://127.0.0.1:" + std::to_string(sim.https_port()));
}

TEST(sim_process, serves_a_whole_session_over_tls_on_one_keep_alive_connection) {
    sim_process sim;
    auto client = sim.https_client();
    client->keep_alive(true);
    const std::string bearer = open_sso_session(*client);
    ASSERT_FALSE(bearer.empty());

    auto validate = client->get("/v1/api/sso/validate", with_bearer(bearer));
    ASSERT_TRUE(validate.has_value()) << validate.error().message;
    EXPECT_EQ(validate->json().at("RESULT"), true);
    auto init = client->post_json("/v1/api/iserver/auth/ssodh/init", json::object{{"publish", true}, {"compete", true}},
                                  with_bearer(bearer));
    ASSERT_TRUE(init.has_value()) << init.error().message;
    EXPECT_EQ(init->json().at("authenticated"), true);
    auto accounts = client->get("/v1/api/iserver/accounts", with_bearer(bearer));
    ASSERT_TRUE(accounts.has_value()) << accounts.error().message;
    EXPECT_EQ(accounts->json().at("selectedAccount"), "DU1234567");
    auto tickle = client->post(tickle_path, "", with_bearer(bearer));
    ASSERT_TRUE(tickle.has_value()) << tickle.error().message;
    EXPECT_EQ(tickle->json().at("iserver").at("authStatus").at("authenticated"), true);
    auto logout = client->post("/v1/api/logout", "", with_bearer(bearer));
    ASSERT_TRUE(logout.has_value()) << logout.error().message;
    EXPECT_EQ(logout->json().at("status"), true);
    EXPECT_EQ(client->connections_opened(), 1u);

    const auto state = sim.state();
    EXPECT_EQ(state.at("tokens_issued"), 1);
    EXPECT_EQ(state.at("sso_sessions_created"), 1);
    EXPECT_EQ(state.at("inits"), 1);
    EXPECT_EQ(state.at("accounts"), 1);
    EXPECT_EQ(state.at("tickles"), 1);
    EXPECT_EQ(state.at("logouts"), 1);
    EXPECT_EQ(state.at("statuses").at("/v1/api/tickle 200"), 1);
    EXPECT_EQ(state.at("active_sso_sessions"), 0);
    EXPECT_NE(sim.output().find("POST /v1/api/tickle 200"), std::string::npos);
    EXPECT_EQ(sim.output().find(bearer), std::string::npos);  // the log never carries a bearer
}

TEST(sim_process, serves_the_users_of_a_users_file_each_in_its_own_session) {
    sessiond::testing::temp_dir dir;
    const auto key = dir.write("client.pem", sessiond::testing::shared_rsa_key().pkcs8_pem).string();
    auto entry = [&](std::string_view client, std::string_view username, std::string_view account) {
        return json::object{{"client_id", client},  {"key_id", "main"},
                            {"public_key_file", key}, {"username", username},
                            {"accounts", json::array{account}}, {"environment", "paper"},
                            {"allowed_ip", "127.0.0.1"}};
    };
    const json::object file{{"users", json::array{entry("app-1", "alice", "DU0000001"), entry("app-1", "bob", "DU0000002"),
                                                  entry("app-2", "carol", "DU0000003")}}};
    sim_options o;
    o.users_file = dir.write("users.json", json::serialize(file)).string();
    sim_process sim(o);
    auto client = sim.https_client();
    std::map<std::string, std::string> bearers;
    for (const auto& [client_id, username] : {std::pair{"app-1", "alice"}, {"app-1", "bob"}, {"app-2", "carol"}}) {
        requests::client_identity id;
        id.client_id = client_id;
        id.credential = username;
        bearers[username] = open_sso_session(*client, id);
        ASSERT_FALSE(bearers[username].empty()) << username;
    }
    for (const auto& [username, bearer] : bearers) {
        requests::establish_brokerage(*client, bearer);
        auto accounts = client->get("/v1/api/iserver/accounts", with_bearer(bearer));
        ASSERT_TRUE(accounts.has_value()) << accounts.error().message;
        EXPECT_EQ(accounts->json().at("accounts").as_array().size(), 1u) << username;
    }
    const auto refused = client->post("/v1/api/iserver/account/DU0000002/orders", R"({"orders":[]})",
                                      with_bearer(bearers["alice"], "application/json"));
    ASSERT_TRUE(refused.has_value()) << refused.error().message;
    EXPECT_EQ(refused->status, 400u);
    const auto state = sim.state();
    EXPECT_EQ(state.at("active_sso_sessions"), 3);
    for (const char* username : {"alice", "bob", "carol"})
        EXPECT_EQ(state.at("users").at(username).at("sso_active"), true) << username;
    EXPECT_EQ(state.at("rejections").at("account_not_owned"), 1);
}

TEST(sim_process, answers_411_to_a_post_without_content_length) {
    sim_process sim;
    http_request_options o;
    o.content_length = false;
    auto res = sim.https_client()->post(tickle_path, "", o);
    ASSERT_TRUE(res.has_value()) << res.error().message;
    EXPECT_EQ(res->status, 411u);
}

TEST(sim_process, control_switches_change_what_ibkr_answers) {
    sim_process sim;
    auto client = sim.https_client();
    const std::string bearer = open_sso_session(*client);
    sim.set_maintenance(true);
    EXPECT_EQ(client->post(tickle_path, "", with_bearer(bearer))->status, 503u);
    EXPECT_EQ(sim.state().at("maintenance"), true);
    sim.set_maintenance(false);
    sim.set_competing(true);
    EXPECT_EQ(sim.state().at("competing_session"), true);
    sim.expire_sessions();
    EXPECT_EQ(client->post(tickle_path, "", with_bearer(bearer))->status, 401u);
    EXPECT_EQ(sim.state().at("rejections").at("sso_expired"), 1);
}

TEST(sim_process, refuses_a_request_body_over_64_kib_with_413) {
    sim_process sim;
    http_request_options o;
    o.content_type = "application/x-www-form-urlencoded";
    auto res = sim.https_client()->post(token_path, std::string(65 * 1024, 'a'), o);
    ASSERT_TRUE(res.has_value()) << res.error().message;
    EXPECT_EQ(res->status, 413u);
    EXPECT_EQ(sim.https_client()->post(tickle_path, "")->status, 401u);
}

TEST(sim_process, refuses_request_headers_over_16_kib_with_431) {
    sim_process sim;
    http_request_options o;
    o.headers.emplace_back("X-Padding", std::string(17 * 1024, 'a'));
    auto res = sim.https_client()->post(tickle_path, "", o);
    ASSERT_TRUE(res.has_value()) << res.error().message;
    EXPECT_EQ(res->status, 431u);
}

TEST(sim_process, refuses_connections_beyond_max_connections) {
    sim_options o;
    o.extra_args = {"--max-connections", "1"};
    sim_process sim(o);
    auto holder = sim.https_client();
    holder->keep_alive(true);
    ASSERT_EQ(holder->post(tickle_path, "")->status, 401u);  // its connection stays open
    EXPECT_EQ(sim.state().at("open_connections"), 1);
    EXPECT_FALSE(sim.https_client()->post(tickle_path, "").has_value());
    EXPECT_EQ(holder->post(tickle_path, "")->status, 401u);
    EXPECT_EQ(sim.state().at("refused_connections"), 1);
}

TEST(sim_process, timed_maintenance_ends_by_itself_and_a_later_call_replaces_its_timing) {
    sim_process sim;
    auto client = sim.https_client();
    const std::string bearer = open_sso_session(*client);
    sim.set_maintenance(true, 60s);
    auto state = sim.state();
    EXPECT_EQ(state.at("maintenance"), true);
    EXPECT_GT(number(state.at("maintenance_ends_in_ms")), 0);
    EXPECT_LE(number(state.at("maintenance_ends_in_ms")), 60000);
    EXPECT_EQ(client->post(tickle_path, "", with_bearer(bearer))->status, 503u);

    sim.set_maintenance(true, 200ms);  // replaces the 60 s
    EXPECT_LE(number(sim.state().at("maintenance_ends_in_ms")), 200);
    ASSERT_TRUE(wait_for_state(sim, [](const json::object& s) { return s.at("maintenance") == false; }, 10s));
    EXPECT_TRUE(sim.state().at("maintenance_ends_in_ms").is_null());
    EXPECT_EQ(client->post(tickle_path, "", with_bearer(bearer))->status, 200u);
}

TEST(sim_process, maintenance_off_cancels_a_timed_maintenance) {
    sim_process sim;
    sim.set_maintenance(true, 60s);
    sim.set_maintenance(false);
    const auto state = sim.state();
    EXPECT_EQ(state.at("maintenance"), false);
    EXPECT_TRUE(state.at("maintenance_ends_in_ms").is_null());
    EXPECT_EQ(sim.https_client()->post(tickle_path, "")->status, 401u);
}

TEST(sim_process, nightly_reset_ends_every_session_then_holds_maintenance) {
    sim_process sim;
    auto client = sim.https_client();
    const std::string bearer = open_sso_session(*client);
    ASSERT_EQ(client->post_json("/v1/api/iserver/auth/ssodh/init", json::object{{"publish", true}, {"compete", true}},
                                with_bearer(bearer))->status,
              200u);
    sim.nightly_reset(60s);
    auto state = sim.state();
    EXPECT_EQ(state.at("active_sso_sessions"), 0);
    EXPECT_EQ(state.at("brokerage").at("connected"), false);
    EXPECT_EQ(state.at("maintenance"), true);
    EXPECT_GT(number(state.at("maintenance_ends_in_ms")), 0);
    EXPECT_EQ(client->post(tickle_path, "", with_bearer(bearer))->status, 503u);
    sim.set_maintenance(false);
    EXPECT_EQ(client->post(tickle_path, "", with_bearer(bearer))->status, 401u);
    EXPECT_EQ(last_event(sim).at("reason"), "sso_expired");

    const std::string next = open_sso_session(*client);
    sim.nightly_reset();  // no maintenance: only the expiry
    EXPECT_EQ(sim.state().at("maintenance"), false);
    EXPECT_EQ(client->post(tickle_path, "", with_bearer(next))->status, 401u);
    EXPECT_EQ(last_event(sim).at("reason"), "sso_expired");
}

TEST(sim_process, refuses_invalid_maintenance_and_nightly_reset_bodies_with_400) {
    sim_process sim;
    auto control = sim.control_client();
    auto res = control->post_json("/control/maintenance", json::object{{"on", true}, {"duration_ms", "soon"}});
    ASSERT_TRUE(res.has_value()) << res.error().message;
    EXPECT_EQ(res->status, 400u);
    EXPECT_NE(res->body.find("duration_ms"), std::string::npos);
    res = control->post_json("/control/nightly-reset", json::object{{"maintenance", 5}});
    ASSERT_TRUE(res.has_value()) << res.error().message;
    EXPECT_EQ(res->status, 400u);
    EXPECT_NE(res->body.find("maintenance"), std::string::npos);
    EXPECT_EQ(sim.state().at("maintenance"), false);
}

// ---------------------------------------------------------------- pacing

TEST(sim_process, refuses_requests_beyond_max_requests_per_second_with_429) {
    sim_options o;
    o.max_requests_per_second = 3;
    sim_process sim(o);
    for (int i = 0; i < 5; ++i) (void)sim.state();  // control requests never count
    auto client = sim.https_client();
    client->keep_alive(true);
    std::vector<unsigned> statuses;
    http_result last;
    const auto began = std::chrono::steady_clock::now();
    for (int i = 0; i < 4; ++i) {
        auto res = client->post(tickle_path, "");
        ASSERT_TRUE(res.has_value()) << res.error().message;
        statuses.push_back(res->status);
        last = *res;
    }
    const auto took = std::chrono::steady_clock::now() - began;
    // Each request met the model between `began` and now: within one second, the fourth is one too many.
    if (took >= 1s) GTEST_SKIP() << "four requests took " << (took / 1ms) << " ms, more than one window";
    EXPECT_EQ(statuses, (std::vector<unsigned>{401, 401, 401, 429}));
    EXPECT_EQ(last.json(), (json::object{{"error", "Too Many Requests"}}));
    EXPECT_FALSE(last.has_header("Retry-After"));
    EXPECT_EQ(sim.state().at("rejections").at("global_rate_limited"), 1);
    EXPECT_EQ(last_event(sim).at("reason"), "global_rate_limited");
    EXPECT_NE(sim.output().find("reason=global_rate_limited"), std::string::npos);
}

TEST(sim_process, penalty_box_answers_429_to_every_request_after_a_429_and_counts_them) {
    sim_options o;
    o.penalty_box = 600;
    sim_process sim(o);
    auto client = sim.https_client();
    const std::string bearer = open_sso_session(*client);
    ASSERT_EQ(client->get("/v1/api/sso/validate", with_bearer(bearer))->status, 200u);
    ASSERT_EQ(client->get("/v1/api/sso/validate", with_bearer(bearer))->status, 429u);  // 1 per 60 s
    EXPECT_EQ(sim.state().at("penalty_box_violations"), 0);

    auto tickle = client->post(tickle_path, "", with_bearer(bearer));
    ASSERT_TRUE(tickle.has_value()) << tickle.error().message;
    EXPECT_EQ(tickle->status, 429u);
    EXPECT_EQ(tickle->json(), (json::object{{"error", "Too Many Requests"}}));
    EXPECT_EQ(last_event(sim).at("reason"), "penalty_box");
    const requests::client_identity id;
    const auto assertion = requests::sign(requests::assertion_claims(id, std::chrono::system_clock::now()), "main");
    auto token = client->post(token_path, requests::form_body(requests::token_form(id, assertion)), form());
    ASSERT_TRUE(token.has_value()) << token.error().message;
    EXPECT_EQ(token->status, 429u);  // the token endpoint too
    const auto state = sim.state();
    EXPECT_EQ(state.at("penalty_box_violations"), 2);
    EXPECT_EQ(state.at("rejections").at("penalty_box"), 2);
    EXPECT_EQ(state.at("rejections").at("rate_limited"), 1);
    EXPECT_EQ(state.at("tickles"), 0);
    EXPECT_GT(number(state.at("penalty_box_ends_in_ms")), 0);
    EXPECT_LE(number(state.at("penalty_box_ends_in_ms")), 600000);
}

TEST(sim_process, an_injected_429_does_not_open_the_penalty_box) {
    sim_options o;
    o.penalty_box = 600;
    sim_process sim(o);
    sim.fault(json::object{{"path", tickle_path}, {"action", "status"}, {"status", 429}});
    auto client = sim.https_client();
    EXPECT_EQ(client->post(tickle_path, "")->status, 429u);
    EXPECT_EQ(client->post(tickle_path, "")->status, 401u);
    const auto state = sim.state();
    EXPECT_TRUE(state.at("penalty_box_ends_in_ms").is_null());
    EXPECT_EQ(state.at("penalty_box_violations"), 0);
}

// ---------------------------------------------------------------- faults

TEST(sim_process, status_fault_answers_before_auth_with_status_body_and_retry_after) {
    sim_process sim;
    sim.fault(json::object{{"path", tickle_path}, {"action", "status"}, {"status", 503}, {"retry_after", 5}});
    auto client = sim.https_client();
    auto faulted = client->post(tickle_path, "");
    ASSERT_TRUE(faulted.has_value()) << faulted.error().message;
    EXPECT_EQ(faulted->status, 503u);
    EXPECT_EQ(faulted->header("Retry-After"), "5");
    EXPECT_EQ(faulted->json(), (json::object{{"error", "injected fault"}}));
    EXPECT_EQ(client->post(tickle_path, "")->status, 401u);  // count 1: the next one meets IBKR again
    const auto event = sim.events(0).at("events").as_array()[0].as_object();
    EXPECT_EQ(event.at("fault"), "status");
    EXPECT_EQ(event.at("status"), 503);
}

TEST(sim_process, body_fault_answers_exactly_that_body) {
    sim_process sim;
    sim.fault(json::object{{"path", tickle_path}, {"action", "body"}, {"body", R"({"error":"not processed"})"}});
    auto res = sim.https_client()->post(tickle_path, "");
    ASSERT_TRUE(res.has_value()) << res.error().message;
    EXPECT_EQ(res->status, 200u);
    EXPECT_EQ(res->body, R"({"error":"not processed"})");
    EXPECT_EQ(res->header("Content-Type"), "application/json");
}

TEST(sim_process, garbage_fault_answers_json_content_type_with_a_body_that_is_not_json) {
    sim_process sim;
    sim.fault(json::object{{"path", "*"}, {"action", "garbage"}});
    auto res = sim.https_client()->get("/v1/api/sso/validate");
    ASSERT_TRUE(res.has_value()) << res.error().message;
    EXPECT_EQ(res->status, 200u);
    EXPECT_EQ(res->header("Content-Type"), "application/json");
    EXPECT_TRUE(res->json().is_null());
}

TEST(sim_process, content_type_fault_keeps_the_normal_answer_but_labels_it_html) {
    sim_process sim;
    sim.fault(json::object{{"path", tickle_path}, {"action", "content_type"}});
    auto res = sim.https_client()->post(tickle_path, "");
    ASSERT_TRUE(res.has_value()) << res.error().message;
    EXPECT_EQ(res->status, 401u);
    EXPECT_EQ(res->header("Content-Type").rfind("text/html", 0), 0u);
    EXPECT_EQ(res->json().at("statusCode"), 401);
}

TEST(sim_process, delay_fault_gives_the_normal_answer_late) {
    sim_process sim;
    sim.fault(json::object{{"path", tickle_path}, {"action", "delay"}, {"delay_ms", 50}});
    auto res = sim.https_client()->post(tickle_path, "");
    ASSERT_TRUE(res.has_value()) << res.error().message;
    EXPECT_EQ(res->status, 401u);
    EXPECT_EQ(last_event(sim).at("fault"), "delay");
}

TEST(sim_process, truncate_fault_ends_the_body_before_its_content_length) {
    sim_process sim;
    sim.fault(json::object{{"path", tickle_path}, {"action", "truncate"}});
    auto res = sim.https_client()->post(tickle_path, "");
    ASSERT_FALSE(res.has_value());
    EXPECT_NE(res.error().message.find("read"), std::string::npos) << res.error().message;
}

TEST(sim_process, reset_fault_aborts_the_connection_after_reading_the_request) {
    sim_process sim;
    sim.fault(json::object{{"path", tickle_path}, {"action", "reset"}});
    auto res = sim.https_client()->post(tickle_path, "");
    ASSERT_FALSE(res.has_value());
    const auto event = last_event(sim);
    EXPECT_EQ(event.at("fault"), "reset");
    EXPECT_EQ(event.at("status"), 0);
    EXPECT_EQ(sim.https_client()->post(tickle_path, "")->status, 401u);
}

TEST(sim_process, hang_fault_never_answers) {
    sim_process sim;
    sim.fault(json::object{{"path", tickle_path}, {"action", "hang"}});
    http_request_options impatient;
    impatient.timeout = 300ms;
    auto res = sim.https_client()->post(tickle_path, "", impatient);
    ASSERT_FALSE(res.has_value());
    EXPECT_NE(res.error().message.find("timed out"), std::string::npos) << res.error().message;
    const auto event = last_event(sim);
    EXPECT_EQ(event.at("fault"), "hang");
    EXPECT_EQ(event.at("status"), 0);
}

TEST(sim_process, handshake_reset_fault_closes_connections_before_tls) {
    sim_process sim;
    sim.fault(json::object{{"path", "handshake"}, {"action", "reset"}, {"count", 2}});
    // The reset can reach the client while it still connects, or once it starts the handshake.
    for (int i = 0; i < 2; ++i) EXPECT_FALSE(sim.https_client()->post(tickle_path, "").has_value());
    EXPECT_EQ(sim.https_client()->post(tickle_path, "")->status, 401u);
    EXPECT_EQ(sim.state().at("calls").at("handshake"), 2);
}

TEST(sim_process, handshake_hang_fault_never_completes_tls) {
    sim_process sim;
    sim.fault(json::object{{"path", "handshake"}, {"action", "hang"}});
    http_request_options impatient;
    impatient.timeout = 300ms;
    auto res = sim.https_client()->post(tickle_path, "", impatient);
    ASSERT_FALSE(res.has_value());
    EXPECT_NE(res.error().message.find("TLS handshake: timed out"), std::string::npos) << res.error().message;
}

TEST(sim_process, refuses_an_invalid_fault_with_400) {
    sim_process sim;
    auto res = sim.control_client()->post_json("/control/fault", json::object{{"path", "/x"}, {"action", "explode"}});
    ASSERT_TRUE(res.has_value()) << res.error().message;
    EXPECT_EQ(res->status, 400u);
    EXPECT_NE(res->body.find("explode"), std::string::npos);
}

// ---------------------------------------------------------------- replica overlaps

// Over the wire: the User-Agent header is what tells replicas apart, and a request an injected fault
// answers in IBKR's place is still an overlap (the replica made it).
TEST(sim_process, records_overlaps_by_user_agent_even_when_a_fault_answers) {
    sim_process sim;
    auto client = sim.https_client();
    const std::string bearer = open_sso_session(*client);  // as the test client's own "sessiond-tests"
    ASSERT_FALSE(bearer.empty());
    auto as_replica_b = with_bearer(bearer);
    as_replica_b.headers.emplace_back("User-Agent", "ibkr-sessiond/0.9.0 (replica b)");
    EXPECT_EQ(client->post(tickle_path, "", with_bearer(bearer))->status, 200u);
    sim.fault(json::object{{"path", tickle_path}, {"action", "status"}, {"status", 503}});
    EXPECT_EQ(client->post(tickle_path, "", as_replica_b)->status, 503u);
    EXPECT_EQ(client->get("/v1/api/sso/validate", as_replica_b)->status, 200u);

    auto res = sim.control_client()->get("/control/overlaps");
    ASSERT_TRUE(res.has_value()) << res.error().message;
    ASSERT_EQ(res->status, 200u) << res->body;
    const auto overlaps = res->json().as_object();
    EXPECT_EQ(overlaps.at("count"), 2);
    const auto& records = overlaps.at("overlaps").as_array();
    ASSERT_EQ(records.size(), 2u);
    EXPECT_EQ(records[0].at("user"), "simuser");
    EXPECT_EQ(records[0].at("agent"), "ibkr-sessiond/0.9.0 (replica b)");
    EXPECT_EQ(records[0].at("holder"), "sessiond-tests");
    EXPECT_EQ(records[0].at("path"), "/v1/api/tickle");
    EXPECT_GT(number(records[0].at("at_ms")), 1'600'000'000'000);
    EXPECT_EQ(records[1].at("path"), "/v1/api/sso/validate");
    res = sim.control_client()->get("/control/holders");
    ASSERT_TRUE(res.has_value()) << res.error().message;
    EXPECT_EQ(res->json(), (json::object{{"holders", json::object{{"simuser", "sessiond-tests"}}}}));
}

// ---------------------------------------------------------------- control API long poll

TEST(sim_process, await_returns_once_the_awaited_request_is_recorded) {
    sim_process sim;
    auto waiting = std::async(std::launch::async, [&] { return sim.await_calls(tickle_path, 2, 20s, 401u); });
    auto client = sim.https_client();
    EXPECT_EQ(client->post(tickle_path, "")->status, 401u);
    EXPECT_EQ(client->post(tickle_path, "")->status, 401u);
    EXPECT_TRUE(waiting.get());
}

TEST(sim_process, await_answers_408_at_its_timeout) {
    sim_process sim;
    EXPECT_FALSE(sim.await_calls(tickle_path, 1, 100ms));
    auto res = sim.control_client()->get("/control/await?path=/v1/api/tickle&count=1&timeout_ms=10");
    ASSERT_TRUE(res.has_value()) << res.error().message;
    EXPECT_EQ(res->status, 408u);
    EXPECT_EQ(res->json(), (json::object{{"count", 0}}));
}

TEST(sim_process, events_list_method_path_status_fault_and_reason) {
    sim_process sim;
    EXPECT_EQ(sim.https_client()->post(tickle_path, "")->status, 401u);
    const auto events = sim.events(0);
    ASSERT_EQ(events.at("events").as_array().size(), 1u);
    const auto e = events.at("events").as_array()[0].as_object();
    EXPECT_EQ(e.at("seq"), 1);
    EXPECT_EQ(e.at("method"), "POST");
    EXPECT_EQ(e.at("path"), "/v1/api/tickle");
    EXPECT_EQ(e.at("status"), 401);
    EXPECT_EQ(e.at("fault"), "");
    EXPECT_EQ(e.at("reason"), "missing_bearer");
    EXPECT_TRUE(e.at("t_ms").is_int64() || e.at("t_ms").is_uint64());
    EXPECT_TRUE(sim.events(events.at("next").to_number<std::uint64_t>()).at("events").as_array().empty());
}

// ---------------------------------------------------------------- TLS identity and lifecycle

TEST(sim_process, certificate_for_another_host_fails_host_verification) {
    sim_options o;
    o.cert_host = "wrong.example";
    sim_process sim(o);
    auto as_localhost = sim.https_client("localhost")->post(tickle_path, "");
    ASSERT_FALSE(as_localhost.has_value());
    EXPECT_NE(as_localhost.error().message.find("TLS handshake"), std::string::npos) << as_localhost.error().message;
    auto as_named = sim.https_client("wrong.example")->post(tickle_path, "");
    ASSERT_TRUE(as_named.has_value()) << as_named.error().message;
    EXPECT_EQ(as_named->status, 401u);
}

TEST(sim_process, default_certificate_verifies_for_127_0_0_1_too) {
    sim_process sim;
    auto res = sim.https_client("127.0.0.1")->post(tickle_path, "");
    ASSERT_TRUE(res.has_value()) << res.error().message;
}

TEST(sim_process, exits_0_on_sigterm) {
    sim_process sim;
    EXPECT_EQ(sim.stop(), 0);
    EXPECT_NE(sim.output().find("stopping"), std::string::npos);
}

TEST(sim_process, exits_0_on_sigterm_while_a_connection_hangs) {
    sim_process sim;
    sim.fault(json::object{{"path", "handshake"}, {"action", "hang"}});
    http_request_options impatient;
    impatient.timeout = 300ms;
    auto client = sim.https_client();
    EXPECT_FALSE(client->post(tickle_path, "", impatient).has_value());
    EXPECT_EQ(sim.stop(), 0);
}

TEST(sim_process, restart_keeps_the_https_port_and_the_ca) {
    sim_process sim;
    const auto port = sim.https_port();
    const std::string ca = read_file(sim.ca_file());
    sim.restart();
    EXPECT_EQ(sim.https_port(), port);
    EXPECT_EQ(read_file(sim.ca_file()), ca);
    auto res = sim.https_client()->post(tickle_path, "");
    ASSERT_TRUE(res.has_value()) << res.error().message;
    EXPECT_EQ(res->status, 401u);
}

TEST(sim_process, exits_64_naming_a_bad_flag) {
    subprocess_options o;
    o.argv = {IBKR_SIM_PATH, "--sso-lifetime", "forever"};
    subprocess sim(o);
    EXPECT_EQ(sim.wait_exit(10s), 64);
    EXPECT_TRUE(sim.wait_for_line(output_stream::err, "--sso-lifetime", 10s).has_value()) << sim.all_output();
}

TEST(sim_process, refuses_to_start_without_a_client_public_key) {
    subprocess_options o;
    o.argv = {IBKR_SIM_PATH};
    subprocess sim(o);
    EXPECT_EQ(sim.wait_exit(10s), 64);
    EXPECT_TRUE(sim.wait_for_line(output_stream::err, "no client public key", 10s).has_value()) << sim.all_output();
}

}  // namespace
}  // namespace sessiond::sim
