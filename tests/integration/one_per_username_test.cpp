// One process per IBKR username on a host (host/username_lock.hpp): a second daemon for a username
// that a running daemon keeps refuses to start, naming the first, instead of ending its SSO session
// every minute; and `test-connection` beside a running daemon asks it rather than logging in.

#include "integration/daemon_fixture.hpp"

#include <fmt/format.h>

#include <csignal>

namespace sessiond::testing {
namespace {

class one_per_username : public daemon_fixture {
protected:
    static daemon_options with_state_dir(const temp_dir& state) {
        daemon_options o;
        o.environment["SESSIOND_STATE_DIR"] = state.path().string();
        return o;
    }

    // A daemon that exited on its own cannot exit 0 on SIGTERM in TearDown: its output is checked
    // for secrets here instead, and it leaves the fixture.
    void forget_exited(daemon_process& d) {
        auto tokens = sim().issued_tokens();
        for (const auto& other : daemons_)
            if (!other->api_token().empty()) tokens.push_back(other->api_token());
        expect_no_secrets(d.output(), d.private_key_pem(), tokens, "exited daemon's output");
        std::erase_if(daemons_, [&](const auto& p) { return p.get() == &d; });
    }

    // Responses the simulator gave with that HTTP status, on any path.
    std::uint64_t responses_with_status(unsigned status) {
        const auto state = sim().state();
        std::uint64_t n = 0;
        const std::string suffix = " " + std::to_string(status);
        for (const auto& [key, count] : state.at("statuses").as_object())
            if (std::string_view(key).ends_with(suffix)) n += count.to_number<std::uint64_t>();
        return n;
    }

    std::string api_address(daemon_process& d) {
        const auto port = d.api_port();
        return port ? fmt::format("http://127.0.0.1:{}", *port) : std::string("(no API)");
    }

    std::string status_of(daemon_process& d) {
        const auto r = d.api().get("/api/ibkr/status");
        if (!r) return "(no answer)";
        const auto j = r->json();
        return j.is_object() && j.as_object().contains("status") ? std::string(j.at("status").as_string()) : "(no status)";
    }

    // The daemon still keeps its session: a tickle after this moment, and status connected.
    void expect_still_tickling(daemon_process& d) {
        const auto tickles = sim_calls(tickle_path);
        EXPECT_TRUE(sim().await_calls(tickle_path, tickles + 1, 10s)) << d.log();
        EXPECT_EQ(status_of(d), "connected");
    }

    // The daemon's settings for the CLI, as an operator would run it beside the daemon.
    environment_overrides same_settings(const temp_dir& dir, std::optional<std::string> api_token) {
        environment_overrides env = daemon_environment(sim(), dir.write("key.pem", shared_rsa_key().pkcs8_pem));
        env["SESSIOND_API_TOKEN"] = std::move(api_token);
        return env;
    }
};

TEST_F(one_per_username, a_second_daemon_for_the_same_username_refuses_to_start_naming_the_first_which_carries_on) {
    const temp_dir first_state;
    const temp_dir second_state;
    auto& first = connected_daemon(with_state_dir(first_state));
    const std::string first_api = api_address(first);
    ASSERT_EQ(sim_calls(token_path), 1u);

    auto& second = start_daemon(with_state_dir(second_state));  // its own state directory and API port
    const auto code = second.wait_exit(20s);
    ASSERT_TRUE(code) << second.output();
    EXPECT_EQ(*code, 75) << second.output();
    const std::string said = second.output();
    EXPECT_NE(said.find(fmt::format("another ibkr-sessiond (pid {}", first.pid())), std::string::npos) << said;
    EXPECT_NE(said.find("curl " + first_api + "/api/ibkr/status"), std::string::npos) << said;
    EXPECT_NE(said.find("this IBKR username (the one in IBKR_CREDENTIAL)"), std::string::npos) << said;
    EXPECT_EQ(said.find(sim().options().credential), std::string::npos) << "the username is not printed: " << said;
    forget_exited(second);

    EXPECT_EQ(sim_calls(token_path), 1u) << "the second daemon never logged in";
    EXPECT_EQ(sim_calls(sso_path), 1u);
    EXPECT_EQ(sim_calls(logout_path), 0u);
    expect_still_tickling(first);
    EXPECT_EQ(responses_with_status(401), 0u) << "the first daemon's SSO session was never ended";
    EXPECT_EQ(sim_calls(token_path), 1u);
}

TEST_F(one_per_username, a_new_daemon_for_the_username_starts_once_the_first_has_stopped) {
    // The same state directory, as a restart has: its pacing record keeps the new validate a
    // simulator-minute after the last one.
    const temp_dir state;
    auto& first = connected_daemon(with_state_dir(state));
    ASSERT_EQ(first.stop(), 0) << first.output();
    auto& second = start_daemon(with_state_dir(state));
    EXPECT_TRUE(second.wait_for_log("session connected")) << second.output();
    EXPECT_EQ(second.count_in_log("keeps this IBKR username"), 0u) << second.log();
    EXPECT_EQ(sim_calls(token_path), 2u);
}

TEST_F(one_per_username, a_reload_to_a_username_another_daemon_keeps_is_refused_and_changes_nothing) {
    auto& first = connected_daemon();
    // The second starts not configured (no account in its env file), then the file completes it.
    const temp_dir dir;
    const auto env_file = dir.write("ibkr-sessiond.env", "# the account comes later\n");
    daemon_options o;
    o.environment["IBKR_ACCOUNT_ID"] = std::nullopt;
    o.args = {"run", "--env-file", env_file.string(), "--log-level", "debug"};
    auto& second = start_daemon(o);
    ASSERT_TRUE(second.wait_for_log("not configured")) << second.output();
    dir.write("ibkr-sessiond.env", "IBKR_ACCOUNT_ID=DU1234567\n");
    second.send_signal(SIGHUP);
    ASSERT_TRUE(second.wait_for_log(fmt::format("reload refused: another ibkr-sessiond (pid {}", first.pid())))
        << second.output();
    EXPECT_NE(second.log().find("curl " + api_address(first) + "/api/ibkr/status"), std::string::npos) << second.log();
    EXPECT_EQ(status_of(second), "not_configured");
    EXPECT_EQ(sim_calls(token_path), 1u) << "the second daemon never logged in";
    expect_still_tickling(first);
}

TEST_F(one_per_username, test_connection_beside_a_daemon_asks_it_and_never_logs_in_itself) {
    // IBKR's validate minute enforced: a second validate within it would be a 429.
    auto options = fast_sim();
    options.validate_min_interval = 60;
    start_sim(options);
    auto& d = start_daemon();
    ASSERT_TRUE(d.wait_for_log("session connected")) << d.output();
    const auto logins = sim_calls(token_path);
    const auto sso = sim_calls(sso_path);

    const temp_dir cli_dir;
    const auto r = run_sessiond(same_settings(cli_dir, d.api_token()), {"test-connection"}, 60s);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find(fmt::format("asked the running daemon (pid {}, {})", d.pid(), api_address(d))),
              std::string::npos)
        << r.out;
    for (const char* line : {"oauth     passed", "sso       passed", "validate  passed", "init      passed",
                             "connection test passed", "the daemon's session is connected"})
        EXPECT_NE(r.out.find(line), std::string::npos) << line << "\n" << r.out;
    expect_no_secrets(r.out + r.err, shared_rsa_key().pkcs8_pem, {d.api_token()}, "test-connection output");

    EXPECT_EQ(sim_calls(token_path), logins) << "no new login";
    EXPECT_EQ(sim_calls(sso_path), sso);
    EXPECT_EQ(sim_calls(logout_path), 0u);
    EXPECT_EQ(responses_with_status(401), 0u);
    EXPECT_EQ(responses_with_status(429), 0u);
    expect_still_tickling(d);
}

TEST_F(one_per_username, test_connection_beside_a_daemon_it_cannot_ask_exits_non_zero_without_logging_in) {
    start_sim();
    daemon_options o;
    o.api_token.clear();  // the daemon has no token: POST /api/ibkr/test is 403
    auto& d = start_daemon(o);
    ASSERT_TRUE(d.wait_for_log("session connected")) << d.output();
    const auto logins = sim_calls(token_path);

    const temp_dir cli_dir;
    const auto without = run_sessiond(same_settings(cli_dir, std::nullopt), {"test-connection"});
    EXPECT_EQ(without.exit_code, 75) << without.out << without.err;
    EXPECT_NE(without.out.find("none is configured: set SESSIOND_API_TOKEN"), std::string::npos) << without.out;
    EXPECT_NE(without.out.find("does not log in itself while a daemon keeps this IBKR username"), std::string::npos)
        << without.out;

    const std::string token = canary_api_token();
    const auto refused = run_sessiond(same_settings(cli_dir, token), {"test-connection"});
    EXPECT_EQ(refused.exit_code, 75) << refused.out << refused.err;
    EXPECT_NE(refused.out.find("refused the test (HTTP 403"), std::string::npos) << refused.out;
    expect_no_secrets(without.out + without.err + refused.out + refused.err, shared_rsa_key().pkcs8_pem, {token},
                      "test-connection output");

    EXPECT_EQ(sim_calls(token_path), logins) << "the CLI never logs in while a daemon keeps the username";
    EXPECT_EQ(sim_calls(logout_path), 0u);
    expect_still_tickling(d);
}

TEST_F(one_per_username, a_standalone_test_connection_keeps_to_the_pacing_record_a_daemon_started_after_it_reads) {
    auto options = fast_sim();
    // Enforced by the simulator, mirrored by IBKR_PACE_VALIDATE; long enough that the second test
    // comes within it however slowly a sanitised build starts.
    options.validate_min_interval = 30;
    start_sim(options);
    const temp_dir state;
    const temp_dir cli_dir;
    auto env = same_settings(cli_dir, std::nullopt);
    env["SESSIOND_STATE_DIR"] = state.path().string();
    const auto first = run_sessiond(env, {"test-connection"});
    EXPECT_EQ(first.exit_code, 0) << first.out << first.err;
    EXPECT_NE(first.out.find("connection test passed"), std::string::npos) << first.out;

    // At once again, within the validate pace: the daemon's driver logs in and defers validate
    // (isPaper checks paper/live), as a daemon restarted then would, rather than earning a 429.
    const auto again = run_sessiond(env, {"test-connection"});
    EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
    EXPECT_NE(again.out.find("validate  passed"), std::string::npos) << again.out;
    EXPECT_NE(again.out.find("deferred"), std::string::npos) << again.out;
    EXPECT_EQ(sim_calls(validate_path), 1u) << "the second test's validate waits for IBKR's pace";

    // A daemon started right after paces its validate from the tests'.
    auto& d = start_daemon(with_state_dir(state));
    EXPECT_TRUE(d.wait_for_log("session connected")) << d.output();
    EXPECT_EQ(responses_with_status(429), 0u);
    expect_no_secrets(first.out + first.err + again.out + again.err, shared_rsa_key().pkcs8_pem, sim().issued_tokens(),
                      "test-connection output");
}

TEST_F(one_per_username, a_standalone_test_connection_the_login_budget_does_not_allow_yet_is_not_run) {
    start_sim();
    const temp_dir state;
    const temp_dir cli_dir;
    auto env = same_settings(cli_dir, std::nullopt);
    env["SESSIOND_STATE_DIR"] = state.path().string();
    env["SESSIOND_LOGIN_MIN_INTERVAL"] = "60";
    const auto first = run_sessiond(env, {"test-connection"});
    EXPECT_EQ(first.exit_code, 0) << first.out << first.err;

    const auto again = run_sessiond(env, {"test-connection"});
    EXPECT_EQ(again.exit_code, 75) << again.out << again.err;
    EXPECT_NE(again.out.find("not testing now: IBKR's limits allow the next oauth call in "), std::string::npos)
        << again.out;
    EXPECT_EQ(sim_calls(token_path), 1u) << "no login the budget does not allow";
    EXPECT_EQ(sim_calls(logout_path), 1u) << "only the first test's";
}

}  // namespace
}  // namespace sessiond::testing
