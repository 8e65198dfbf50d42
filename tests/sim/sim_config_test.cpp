// The command line: defaults, every kind of value, the env file underneath the flags, and errors
// that name the flag.

#include "ibkr_sim/sim_config.hpp"

#include "support/temp_dir.hpp"
#include "support/test_keys.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sessiond::sim {
namespace {

using namespace std::chrono_literals;
using sessiond::testing::shared_rsa_key;
using sessiond::testing::temp_dir;

class sim_config_test : public ::testing::Test {
protected:
    sim_config_test() { public_key_ = dir_.write("public.pem", shared_rsa_key().public_pem).string(); }

    expected<command_line> parse(std::vector<std::string> args, bool with_key = true) {
        if (with_key) {
            args.emplace_back("--client-public-key");
            args.push_back(public_key_);
        }
        const std::vector<std::string_view> views(args.begin(), args.end());
        return parse_command_line(views);
    }

    std::string error_of(std::vector<std::string> args, bool with_key = true) {
        auto r = parse(std::move(args), with_key);
        EXPECT_FALSE(r.has_value());
        return r ? std::string() : r.error().message;
    }

    temp_dir dir_;
    std::string public_key_;
};

TEST_F(sim_config_test, has_the_documented_defaults) {
    const auto r = parse({});
    ASSERT_TRUE(r.has_value()) << r.error().message;
    const model_config& m = r->config.model;
    EXPECT_EQ(m.client_id, "sim-client");
    EXPECT_EQ(m.key_id, "main");
    EXPECT_EQ(m.credential, "simuser");
    EXPECT_EQ(m.allowed_ip, "127.0.0.1");
    EXPECT_EQ(m.accounts, std::vector<std::string>{"DU1234567"});
    EXPECT_EQ(m.login, login_type::paper);
    EXPECT_EQ(m.scope, "sso-sessions.write");
    EXPECT_EQ(m.token_lifetime, 86400s);
    EXPECT_EQ(m.sso_lifetime, 600s);
    EXPECT_EQ(m.sso_max_life, 86400s);
    EXPECT_TRUE(m.validate_extends);
    EXPECT_FALSE(m.tickle_extends);
    EXPECT_EQ(m.brokerage_idle_timeout, 300s);
    EXPECT_EQ(m.tickle_min_interval, 1s);
    EXPECT_EQ(m.validate_min_interval, 60s);
    EXPECT_EQ(m.clock_skew, 30s);
    EXPECT_EQ(m.max_assertion_life, 300s);
    EXPECT_EQ(m.max_requests_per_second, 10u);
    EXPECT_EQ(m.penalty_box, 0s);
    EXPECT_NE(m.public_key_pem.find("BEGIN PUBLIC KEY"), std::string::npos);
    EXPECT_EQ(r->config.server.https.host, "127.0.0.1");
    EXPECT_EQ(r->config.server.https.port, 0);
    EXPECT_EQ(r->config.server.max_connections, 256u);
}

TEST_F(sim_config_test, reads_every_kind_of_value) {
    const auto r = parse({"--listen", "127.0.0.1:8443", "--control=[::1]:9000", "--account", "DU1", "--account", "DU2",
                          "--login-type", "live", "--sso-lifetime", "0.5", "--no-validate-extends", "--tickle-extends",
                          "--max-connections", "8", "--log-level", "debug", "--cert-host", "wrong.example"});
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(r->config.server.https.port, 8443);
    EXPECT_EQ(r->config.server.control.host, "::1");
    EXPECT_EQ(r->config.server.control.port, 9000);
    EXPECT_EQ(r->config.model.accounts, (std::vector<std::string>{"DU1", "DU2"}));
    EXPECT_EQ(r->config.model.login, login_type::live);
    EXPECT_EQ(r->config.model.sso_lifetime, 500ms);
    EXPECT_FALSE(r->config.model.validate_extends);
    EXPECT_TRUE(r->config.model.tickle_extends);
    EXPECT_EQ(r->config.server.max_connections, 8u);
    EXPECT_EQ(r->config.server.cert_host, "wrong.example");
}

TEST_F(sim_config_test, reads_the_request_rate_limit_and_the_penalty_box) {
    auto r = parse({"--max-requests-per-second", "50", "--penalty-box", "600"});
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(r->config.model.max_requests_per_second, 50u);
    EXPECT_EQ(r->config.model.penalty_box, 600s);
    r = parse({"--max-requests-per-second=0", "--penalty-box=0.25"});
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(r->config.model.max_requests_per_second, 0u);
    EXPECT_EQ(r->config.model.penalty_box, 250ms);
    r = parse({"--max-requests-per-second", "10000"});
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(r->config.model.max_requests_per_second, 10000u);
}

TEST_F(sim_config_test, reads_the_trading_and_websocket_flags_with_ibkr_defaults) {
    const auto defaults = parse({});
    ASSERT_TRUE(defaults.has_value()) << defaults.error().message;
    EXPECT_TRUE(defaults->config.model.endpoint_limits);
    EXPECT_EQ(defaults->config.server.history_delay, 0s);
    EXPECT_EQ(defaults->config.server.ws_heartbeat, 10s);
    EXPECT_EQ(defaults->config.server.ws_market_data_interval, 1s);
    EXPECT_EQ(defaults->config.server.ws_send_queue, 1024u * 1024);
    EXPECT_EQ(defaults->config.server.ws_idle_timeout, 90s);

    const auto r = parse({"--no-endpoint-limits", "--history-delay", "0.5", "--ws-heartbeat=0.2",
                          "--ws-market-data-interval", "0.01", "--ws-send-queue", "4096", "--ws-idle-timeout", "5"});
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_FALSE(r->config.model.endpoint_limits);
    EXPECT_EQ(r->config.server.history_delay, 500ms);
    EXPECT_EQ(r->config.server.ws_heartbeat, 200ms);
    EXPECT_EQ(r->config.server.ws_market_data_interval, 10ms);
    EXPECT_EQ(r->config.server.ws_send_queue, 4096u);
    EXPECT_EQ(r->config.server.ws_idle_timeout, 5s);

    EXPECT_NE(error_of({"--ws-heartbeat", "0"}).find("--ws-heartbeat"), std::string::npos);
    EXPECT_NE(error_of({"--ws-idle-timeout", "0"}).find("--ws-idle-timeout"), std::string::npos);
    EXPECT_NE(error_of({"--ws-market-data-interval", "0.001"}).find("--ws-market-data-interval"), std::string::npos);
    EXPECT_NE(error_of({"--ws-send-queue", "10"}).find("--ws-send-queue"), std::string::npos);
}

TEST_F(sim_config_test, derives_the_public_key_from_a_private_key_file) {
    const auto private_key = dir_.write("private.pem", shared_rsa_key().pkcs1_pem).string();
    const auto r = parse({"--client-public-key", private_key}, false);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(r->config.model.public_key_pem, shared_rsa_key().public_pem);
}

TEST_F(sim_config_test, takes_the_client_from_the_env_file_and_lets_flags_override_it) {
    const auto key_file = dir_.write("key.pem", shared_rsa_key().pkcs8_pem).string();
    const auto env = dir_.write("sessiond.env", "IBKR_CLIENT_ID=env-client\n"
                                                "IBKR_CLIENT_KEY_ID=env-kid\n"
                                                "IBKR_PRIVATE_KEY_FILE=" + key_file + "\n"
                                                "IBKR_CREDENTIAL=envuser\n"
                                                "IBKR_ACCOUNT_ID=U7654321\n"
                                                "IBKR_ALLOWED_IP=203.0.113.9\n"
                                                "IBKR_SCOPE=sso-sessions.write\n"
                                                "IBKR_ENV=live\n");
    const auto r = parse({"--credential", "flaguser", "--env-file", env.string()}, false);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    const model_config& m = r->config.model;
    EXPECT_EQ(m.client_id, "env-client");
    EXPECT_EQ(m.key_id, "env-kid");
    EXPECT_EQ(m.credential, "flaguser");
    EXPECT_EQ(m.accounts, std::vector<std::string>{"U7654321"});
    EXPECT_EQ(m.allowed_ip, "203.0.113.9");
    EXPECT_EQ(m.login, login_type::live);
    EXPECT_EQ(m.public_key_pem, shared_rsa_key().public_pem);
}

TEST_F(sim_config_test, reads_an_inline_private_key_with_escaped_newlines_from_the_env_file) {
    std::string escaped;
    for (const char c : shared_rsa_key().pkcs8_pem) escaped += c == '\n' ? std::string("\\n") : std::string(1, c);
    const auto env = dir_.write("sessiond.env", "IBKR_PRIVATE_KEY='" + escaped + "'\n");
    const auto r = parse({"--env-file", env.string()}, false);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(r->config.model.public_key_pem, shared_rsa_key().public_pem);
}

TEST_F(sim_config_test, refuses_to_start_without_a_client_public_key) {
    EXPECT_NE(error_of({}, false).find("no client public key"), std::string::npos);
}

TEST_F(sim_config_test, errors_name_the_flag) {
    EXPECT_NE(error_of({"--frobnicate"}).find("--frobnicate"), std::string::npos);
    EXPECT_NE(error_of({"--sso-lifetime", "soon"}).find("--sso-lifetime"), std::string::npos);
    EXPECT_NE(error_of({"--tickle-min-interval", "-1"}).find("--tickle-min-interval"), std::string::npos);
    EXPECT_NE(error_of({"--listen", "127.0.0.1"}).find("--listen"), std::string::npos);
    EXPECT_NE(error_of({"--listen", "example.com:443"}).find("--listen"), std::string::npos);
    EXPECT_NE(error_of({"--allowed-ip", "not-an-ip"}).find("--allowed-ip"), std::string::npos);
    EXPECT_NE(error_of({"--login-type", "demo"}).find("--login-type"), std::string::npos);
    EXPECT_NE(error_of({"--max-connections", "0"}).find("--max-connections"), std::string::npos);
    for (const char* bad : {"-1", "ten", "1.5", "10001", ""})
        EXPECT_NE(error_of({"--max-requests-per-second=" + std::string(bad)}).find("--max-requests-per-second: must be"),
                  std::string::npos)
            << bad;
    EXPECT_NE(error_of({"--penalty-box", "-600"}).find("--penalty-box"), std::string::npos);
    EXPECT_NE(error_of({"--penalty-box", "10m"}).find("--penalty-box"), std::string::npos);
    EXPECT_NE(error_of({"--client-id"}).find("--client-id"), std::string::npos);
    EXPECT_NE(error_of({"--tickle-extends=yes"}).find("--tickle-extends"), std::string::npos);
    EXPECT_NE(error_of({"--client-public-key", "/nonexistent/key.pem"}, false).find("--client-public-key"), std::string::npos);
}

TEST_F(sim_config_test, refuses_a_control_address_that_is_not_loopback) {
    EXPECT_NE(error_of({"--control", "0.0.0.0:0"}).find("--control"), std::string::npos);
    EXPECT_TRUE(parse({"--control", "localhost:0"}).has_value());
}

TEST_F(sim_config_test, refuses_operator_certificates_mixed_with_a_generated_identity) {
    EXPECT_NE(error_of({"--tls-cert", "c.pem"}).find("--tls-key"), std::string::npos);
    EXPECT_NE(error_of({"--tls-cert", "c.pem", "--tls-key", "k.pem", "--cert-host", "x"}).find("--cert-host"),
              std::string::npos);
}

TEST(parse_seconds, accepts_fractions_and_refuses_the_rest) {
    EXPECT_EQ(parse_seconds("60").value(), 60s);
    EXPECT_EQ(parse_seconds("0.25").value(), 250ms);
    EXPECT_EQ(parse_seconds("0").value(), 0s);
    EXPECT_FALSE(parse_seconds("").has_value());
    EXPECT_FALSE(parse_seconds("1s").has_value());
    EXPECT_FALSE(parse_seconds("-2").has_value());
    EXPECT_FALSE(parse_seconds("nan").has_value());
}

}  // namespace
}  // namespace sessiond::sim
