// What the daemon must refuse, loudly and without retrying into trouble: credentials IBKR rejects,
// a login for the wrong environment, a server that is not who it claims to be.

#include "integration/daemon_fixture.hpp"

#include <cstdlib>
#include <filesystem>

namespace sessiond::testing {
namespace {

class refusal : public daemon_fixture {};

TEST_F(refusal, a_wrong_key_fails_at_the_oauth_step_and_says_so) {
    start_sim();
    daemon_options o;
    o.private_key_pem = other_rsa_key().pkcs8_pem;
    auto& d = start_daemon(o);
    ASSERT_TRUE(d.wait_for_log("oauth failed: HTTP 401", 2)) << d.output();
    EXPECT_GE(d.count_in_log("OAuth failure: verify IBKR_CLIENT_ID, IBKR_CLIENT_KEY_ID and the private key"), 1u);
    EXPECT_EQ(d.count_in_log("session connected"), 0u);
    EXPECT_EQ(sim_calls(sso_path), 0u);
}

TEST_F(refusal, a_wrong_ip_claim_fails_at_the_sso_step_and_says_so) {
    start_sim();
    daemon_options o;
    o.environment["IBKR_ALLOWED_IP"] = "198.51.100.7";
    auto& d = start_daemon(o);
    ASSERT_TRUE(d.wait_for_log("sso failed: HTTP 403")) << d.output();
    EXPECT_GE(d.count_in_log("IBKR_ALLOWED_IP is this server's public IP"), 1u) << d.log();
    EXPECT_EQ(sim_calls(validate_path), 0u);
}

TEST_F(refusal, a_live_login_for_a_paper_configuration_halts_logs_out_and_never_initialises) {
    auto options = fast_sim();
    options.login_type = "live";
    start_sim(options);
    daemon_options o;
    o.environment["IBKR_ENV"] = "paper";
    auto& d = start_daemon(o);
    ASSERT_TRUE(d.wait_for_log("session halted: IBKR reports a live login but IBKR_ENV=paper")) << d.output();
    ASSERT_TRUE(sim().await_calls(logout_path, 1, 10s));
    EXPECT_EQ(sim_calls(init_path), 0u);
    EXPECT_TRUE(d.running()) << "a halted session keeps the daemon up so that it can say why";
}

TEST_F(refusal, an_account_this_login_does_not_have_halts) {
    start_sim();
    daemon_options o;
    o.environment["IBKR_ACCOUNT_ID"] = "DU9999999";
    auto& d = start_daemon(o);
    ASSERT_TRUE(d.wait_for_log("IBKR_ACCOUNT_ID DU9999999 is not among the accounts of this login (DU1234567)"))
        << d.output();
    ASSERT_TRUE(sim().await_calls(logout_path, 1, 10s));
    EXPECT_EQ(sim_calls(tickle_path), 0u);
}

TEST_F(refusal, a_certificate_for_another_host_is_refused_before_any_request_is_sent) {
    auto options = fast_sim();
    options.cert_host = "not-ibkr.example";
    start_sim(options);
    auto& d = start_daemon();
    ASSERT_TRUE(d.wait_for_log("certificate verification failed", 2)) << d.output();
    EXPECT_GE(d.count_in_log("oauth failed: tls"), 1u) << d.log();
    EXPECT_EQ(sim_calls(token_path), 0u) << "credentials must never reach a server that failed verification";
}

TEST_F(refusal, a_server_the_ca_file_does_not_vouch_for_is_refused) {
    start_sim();
    daemon_options o;
    o.environment["IBKR_CA_FILE"] = std::nullopt;  // the system store does not know the simulator's CA
    auto& d = start_daemon(o);
    ASSERT_TRUE(d.wait_for_log("certificate verification failed")) << d.output();
    EXPECT_EQ(sim_calls(token_path), 0u);
}

// The other side of the coin: the system trust store is read from its hashed directory (lazily, see
// net/tls.hpp), and a CA found there is trusted without IBKR_CA_FILE.
TEST_F(refusal, a_server_whose_ca_is_in_the_systems_hashed_directory_is_trusted) {
    start_sim();
    const temp_dir store;
    std::filesystem::copy_file(sim().ca_file(), store.path() / "sim-ca.pem");
    ASSERT_EQ(std::system(("openssl rehash " + store.path().string() + " >/dev/null 2>&1").c_str()), 0);
    daemon_options o;
    o.environment["IBKR_CA_FILE"] = std::nullopt;
    o.environment["SSL_CERT_DIR"] = store.path().string();
    auto& d = start_daemon(o);
    ASSERT_TRUE(d.wait_for_log("session connected")) << d.output();
}

// IBKR's limits are not the base URL's to lift: a validate pace below IBKR's minute needs the
// simulator switch, and without it the daemon does not start at all (a typo must not earn the
// penalty box).
TEST_F(refusal, a_validate_pace_below_ibkrs_minute_without_the_simulator_switch_refuses_to_start) {
    start_sim();
    temp_dir dir;
    environment_overrides env = daemon_environment(sim(), dir.write("key.pem", shared_rsa_key().pkcs8_pem));
    env["HOME"] = dir.path().string();
    env["SESSIOND_SIMULATOR_LIMITS"] = std::nullopt;
    // Production pacing but for the variable under test.
    env["SESSIOND_LOGIN_MIN_INTERVAL"] = std::nullopt;
    env["SESSIOND_LOGINS_PER_HOUR"] = std::nullopt;
    env["IBKR_PACE_VALIDATE"] = "0";

    const command_result run = run_sessiond(env, {"run"});
    EXPECT_EQ(run.exit_code, 78) << run.err;
    EXPECT_NE(run.err.find("IBKR_PACE_VALIDATE: 0 s is looser than IBKR's limit of one validate per minute (60 s); "
                           "SESSIOND_SIMULATOR_LIMITS=true allows it, for ibkr-sim only"),
              std::string::npos)
        << run.err;
    EXPECT_EQ(sim_calls(token_path), 0u);

    const command_result check = run_sessiond(env, {"check-config"});
    EXPECT_EQ(check.exit_code, 78) << check.out;
    EXPECT_NE(check.out.find("IBKR_PACE_VALIDATE: 0 s is looser than IBKR's limit"), std::string::npos) << check.out;

    env["SESSIOND_SIMULATOR_LIMITS"] = "true";
    const command_result allowed = run_sessiond(env, {"check-config"});
    EXPECT_EQ(allowed.exit_code, 0) << allowed.out;
    EXPECT_NE(allowed.out.find("warning: SESSIOND_SIMULATOR_LIMITS=true: simulator limits are in force "
                               "(IBKR_PACE_VALIDATE=0 s)"),
              std::string::npos)
        << allowed.out;
}

}  // namespace
}  // namespace sessiond::testing
