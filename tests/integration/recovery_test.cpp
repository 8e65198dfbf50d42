// The daemon keeps its session through the failures IBKR users meet: each test injects one fault
// into ibkr-sim and asserts that the daemon is authenticated again, by the cheapest path.

#include "integration/daemon_fixture.hpp"

#include <boost/json.hpp>

namespace sessiond::testing {
namespace {

class recovery : public daemon_fixture {};

TEST_F(recovery, logs_in_again_after_tickle_returns_401) {
    auto& d = connected_daemon();
    fault(R"({"path":"/v1/api/tickle","action":"status","status":401,"body":"{\"error\":\"Invalid or expired access token\"}"})");
    ASSERT_TRUE(d.wait_for_log("session connected", 2)) << d.output();
    EXPECT_EQ(sim_count("tokens_issued"), 2u);
    EXPECT_EQ(sim_count("sso_sessions_created"), 2u);
    EXPECT_GE(d.count_in_log("tickle failed: HTTP 401"), 1u) << d.log();
}

TEST_F(recovery, logs_in_again_when_ibkr_expires_the_sso_session) {
    auto& d = connected_daemon();
    sim().expire_sessions();
    ASSERT_TRUE(d.wait_for_log("session connected", 2)) << d.output();
    EXPECT_EQ(sim_count("sso_sessions_created"), 2u);
}

TEST_F(recovery, reinitialises_without_logging_in_when_the_brokerage_session_is_dropped) {
    auto& d = connected_daemon();
    sim().drop_brokerage();
    ASSERT_TRUE(d.wait_for_log("session connected", 2)) << d.output();
    EXPECT_EQ(sim_calls(init_path), 2u);
    EXPECT_EQ(sim_count("tokens_issued"), 1u) << "a dropped brokerage session needs no new login";
    EXPECT_GE(d.count_in_log("brokerage session not authenticated"), 1u) << d.log();
}

TEST_F(recovery, takes_over_a_competing_session_when_compete_is_true) {
    auto& d = connected_daemon();
    sim().set_competing(true);
    ASSERT_TRUE(d.wait_for_log("session connected", 2)) << d.output();
    EXPECT_GE(d.count_in_log("competing"), 1u) << d.log();
    EXPECT_FALSE(sim().state().at("competing_session").as_bool());
    EXPECT_EQ(sim_count("tokens_issued"), 1u);
}

TEST_F(recovery, waits_without_taking_over_a_competing_session_when_compete_is_false) {
    daemon_options o;
    o.environment["IBKR_COMPETE"] = "false";
    auto& d = connected_daemon(o);
    sim().set_competing(true);
    ASSERT_TRUE(d.wait_for_log("IBKR_COMPETE=false: waiting")) << d.output();
    const auto tickles = sim_calls(tickle_path);
    ASSERT_TRUE(sim().await_calls(tickle_path, tickles + 2, 10s));
    EXPECT_EQ(sim_calls(init_path), 1u) << "must not fight the other session";
    EXPECT_TRUE(sim().state().at("competing_session").as_bool());
    sim().set_competing(false);
    ASSERT_TRUE(d.wait_for_log("session connected", 2)) << d.output();
}

TEST_F(recovery, backs_off_on_503_and_recovers_without_a_new_login) {
    auto& d = connected_daemon();
    fault(R"({"path":"/v1/api/tickle","action":"status","status":503,"count":3})");
    ASSERT_TRUE(d.wait_for_log("session connected", 2)) << d.output();
    EXPECT_GE(d.count_in_log("tickle failed: HTTP 503"), 3u) << d.log();
    EXPECT_EQ(sim_count("tokens_issued"), 1u);
}

TEST_F(recovery, times_out_a_hung_response_and_recovers) {
    auto& d = connected_daemon();
    fault(R"({"path":"/v1/api/tickle","action":"hang"})");
    ASSERT_TRUE(d.wait_for_log("no answer within 2 s")) << d.output();
    ASSERT_TRUE(d.wait_for_log("session connected", 2)) << d.output();
}

TEST_F(recovery, recovers_from_reset_connections) {
    auto& d = connected_daemon();
    fault(R"({"path":"/v1/api/tickle","action":"reset","count":2})");
    ASSERT_TRUE(d.wait_for_log("tickle failed: transport", 2)) << d.output();
    ASSERT_TRUE(d.wait_for_log("session connected", 2)) << d.output();
    EXPECT_EQ(sim_calls(tickle_path) - sim_count("tickles"), 2u) << "each reset tickle was sent once, never resent at once";
}

TEST_F(recovery, recovers_from_garbage_json) {
    auto& d = connected_daemon();
    fault(R"({"path":"/v1/api/tickle","action":"garbage"})");
    ASSERT_TRUE(d.wait_for_log("tickle failed: HTTP 200 (bad_response)")) << d.output();
    EXPECT_GE(d.count_in_log("not valid JSON"), 1u) << d.log();
    ASSERT_TRUE(d.wait_for_log("session connected", 2)) << d.output();
}

TEST_F(recovery, an_outage_logs_its_repeated_identical_failure_once_with_a_count) {
    daemon_options o;
    o.args = {"run", "--log-level", "info"};
    auto& d = connected_daemon(o);
    fault(R"({"path":"/v1/api/tickle","action":"status","status":503,"count":4})");
    ASSERT_TRUE(d.wait_for_log("the last failure repeated 3 more time(s)")) << d.output();
    EXPECT_EQ(d.count_in_log("tickle failed: HTTP 503"), 1u) << d.log();
    ASSERT_TRUE(d.wait_for_log("session connected", 2)) << d.output();
}

TEST_F(recovery, recovers_from_a_maintenance_window) {
    auto& d = connected_daemon();
    sim().set_maintenance(true);
    ASSERT_TRUE(d.wait_for_log("tickle failed: HTTP 503", 2)) << d.output();
    sim().set_maintenance(false);
    ASSERT_TRUE(d.wait_for_log("session connected", 2)) << d.output();
}

// The SSO session is refreshed before it runs out, never after: with an 8 s SSO life and a tickle a
// second, the refresh margin is 5 s (three tickles, at least 5 s).
TEST_F(recovery, refreshes_the_sso_session_with_validate_before_it_runs_out) {
    sim_options so = fast_sim();
    so.sso_lifetime = 8;
    start_sim(so);
    daemon_options o;
    o.environment["IBKR_PACE_VALIDATE"] = "1";
    auto& d = start_daemon(o);
    ASSERT_TRUE(d.wait_for_log("session connected")) << d.output();
    // Three refreshes: the session outlives its 8 s life three times over.
    ASSERT_TRUE(sim().await_calls(validate_path, 4, 40s, 200)) << d.output();
    EXPECT_EQ(sim_count("sso_sessions_created"), 1u) << "refreshed, never rebuilt";
    EXPECT_EQ(sim().state().at("statuses").as_object().count("/v1/api/tickle 401"), 0u) << "it never ran out";
    EXPECT_EQ(d.count_in_log("session lost"), 0u) << d.log();
}

TEST_F(recovery, rebuilds_the_session_before_it_ends_when_validate_does_not_extend_it) {
    sim_options so = fast_sim();
    so.sso_lifetime = 8;
    so.validate_extends = false;
    start_sim(so);
    daemon_options o;
    o.environment["IBKR_PACE_VALIDATE"] = "1";
    auto& d = start_daemon(o);
    ASSERT_TRUE(d.wait_for_log("session connected")) << d.output();
    ASSERT_TRUE(d.wait_for_log("planned rebuild: validate did not extend the SSO session", 1, 30s)) << d.output();
    ASSERT_TRUE(d.wait_for_log("session connected", 2)) << d.output();
    EXPECT_EQ(sim_count("sso_sessions_created"), 2u);
    EXPECT_EQ(sim().state().at("statuses").as_object().count("/v1/api/tickle 401"), 0u)
        << "rebuilt before the SSO session ended, not after";
}

}  // namespace
}  // namespace sessiond::testing
