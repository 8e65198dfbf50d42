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
    EXPECT_EQ(m.users.front().client_id, "sim-client");
    EXPECT_EQ(m.users.front().key_id, "main");
    EXPECT_EQ(m.users.front().username, "simuser");
    EXPECT_EQ(m.users.front().allowed_ip, "127.0.0.1");
    EXPECT_EQ(m.users.front().accounts, std::vector<std::string>{"DU1234567"});
    EXPECT_EQ(m.users.front().login, login_type::paper);
    EXPECT_EQ(m.users.front().scope, "sso-sessions.write");
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
    EXPECT_NE(m.users.front().public_key_pem.find("BEGIN PUBLIC KEY"), std::string::npos);
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
    EXPECT_EQ(r->config.model.users.front().accounts, (std::vector<std::string>{"DU1", "DU2"}));
    EXPECT_EQ(r->config.model.users.front().login, login_type::live);
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
    EXPECT_EQ(r->config.model.users.front().public_key_pem, shared_rsa_key().public_pem);
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
    EXPECT_EQ(m.users.front().client_id, "env-client");
    EXPECT_EQ(m.users.front().key_id, "env-kid");
    EXPECT_EQ(m.users.front().username, "flaguser");
    EXPECT_EQ(m.users.front().accounts, std::vector<std::string>{"U7654321"});
    EXPECT_EQ(m.users.front().allowed_ip, "203.0.113.9");
    EXPECT_EQ(m.users.front().login, login_type::live);
    EXPECT_EQ(m.users.front().public_key_pem, shared_rsa_key().public_pem);
}

TEST_F(sim_config_test, reads_an_inline_private_key_with_escaped_newlines_from_the_env_file) {
    std::string escaped;
    for (const char c : shared_rsa_key().pkcs8_pem) escaped += c == '\n' ? std::string("\\n") : std::string(1, c);
    const auto env = dir_.write("sessiond.env", "IBKR_PRIVATE_KEY='" + escaped + "'\n");
    const auto r = parse({"--env-file", env.string()}, false);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(r->config.model.users.front().public_key_pem, shared_rsa_key().public_pem);
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

// ---------------------------------------------------------------- --users

class users_file_test : public sim_config_test {
protected:
    users_file_test() { key_file_ = dir_.write("client.pem", shared_rsa_key().public_pem).string(); }

    // One valid entry, as JSON text, with `extra` fields merged over it.
    std::string entry(std::string_view username, std::string_view account, std::string_view extra = {}) const {
        std::string e = R"({"client_id":"c-)" + std::string(username) + R"(","key_id":"main","public_key_file":")" +
                        key_file_ + R"(","username":")" + std::string(username) + R"(","accounts":[")" +
                        std::string(account) + R"("],"environment":"paper","allowed_ip":"127.0.0.1")";
        if (!extra.empty()) e += "," + std::string(extra);
        return e + "}";
    }
    // Entries may repeat a field: boost::json keeps the last one, so `extra` overrides.
    std::string users_file(const std::vector<std::string>& entries) {
        std::string text = R"({"users":[)";
        for (std::size_t i = 0; i < entries.size(); ++i) text += (i > 0 ? "," : "") + entries[i];
        return dir_.write("users-" + std::to_string(++files_) + ".json", text + "]}").string();
    }
    std::string users_error(const std::vector<std::string>& entries) {
        return error_of({"--users", users_file(entries)}, false);
    }

    std::string key_file_;
    int files_ = 0;
};

TEST_F(users_file_test, reads_every_field_and_derives_public_keys_from_private_ones) {
    const auto private_key = dir_.write("private.pem", shared_rsa_key().pkcs1_pem).string();
    std::string inline_pem;
    for (const char c : shared_rsa_key().public_pem) inline_pem += c == '\n' ? std::string("\\n") : std::string(1, c);
    const auto r = parse({"--users", users_file({entry("u1", "DU0000001", R"("scope":"sso-sessions.write")"),
                                                 entry("u2", "DU0000002", R"("public_key_file":")" + private_key +
                                                                               R"(","environment":"live","allowed_ip":"10.1.2.3")"),
                                                 R"({"client_id":"c3","key_id":"k3","public_key":")" + inline_pem +
                                                     R"(","username":"u3","accounts":["U3","U4"],"environment":"LIVE","allowed_ip":"::1"})"})},
                         false);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    const auto& users = r->config.model.users;
    ASSERT_EQ(users.size(), 3u);
    EXPECT_EQ(users[0].client_id, "c-u1");
    EXPECT_EQ(users[0].username, "u1");
    EXPECT_EQ(users[0].scope, "sso-sessions.write");
    EXPECT_EQ(users[1].login, login_type::live);
    EXPECT_EQ(users[1].allowed_ip, "10.1.2.3");
    EXPECT_EQ(users[1].public_key_pem, shared_rsa_key().public_pem);
    EXPECT_EQ(users[2].key_id, "k3");
    EXPECT_EQ(users[2].accounts, (std::vector<std::string>{"U3", "U4"}));
    EXPECT_EQ(users[2].public_key_pem, shared_rsa_key().public_pem);
}

TEST_F(users_file_test, lets_several_usernames_share_a_client) {
    const auto r = parse({"--users", users_file({entry("u1", "DU1", R"("client_id":"app")"),
                                                 entry("u2", "DU2", R"("client_id":"app")")})},
                         false);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(r->config.model.users[1].client_id, "app");
}

TEST_F(users_file_test, errors_name_the_user_and_the_field) {
    const auto other_key = dir_.write("other.pem", sessiond::testing::other_rsa_key().public_pem).string();
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
        {{entry("u1", "DU1"), entry("u1", "DU2")}, "users[1].username: \"u1\" is also users[0]"},
        {{entry("u1", "DU1"), entry("u2", "DU1")}, "users[1].accounts: \"DU1\" is also an account of users[0]"},
        {{entry("u1", "DU1", R"("environment":"demo")")}, "users[0].environment: \"demo\" must be paper or live"},
        {{entry("u1", "DU1"), entry("u2", "DU2", R"("public_key_file":"/nonexistent/key.pem")")},
         "users[1].public_key_file:"},
        {{entry("u1", "DU1", R"("public_key_file":")" + dir_.write("junk.pem", "not a key").string() + "\"")},
         "users[0].public_key_file:"},
        {{R"({"client_id":"c","key_id":"main","public_key_file":")" + key_file_ +
          R"(","accounts":["DU1"],"environment":"paper","allowed_ip":"127.0.0.1"})"},
         "users[0].username: missing"},
        {{entry("u1", "DU1"), R"({"client_id":"c","key_id":"main","public_key_file":")" + key_file_ +
                                  R"(","username":"u2","accounts":["DU2"],"environment":"paper"})"},
         "users[1].allowed_ip: missing"},
        {{entry("u1", "DU1", R"("allowed_ip":"localhost")")}, "users[0].allowed_ip:"},
        {{entry("u1", "DU1", R"("accounts":[])")}, "users[0].accounts:"},
        {{entry("u1", "DU1", R"("password":"x")")}, "users[0].password: unknown field"},
        {{entry("u1", "DU1", R"("public_key":"x")")}, "users[0].public_key_file: give exactly one"},
        {{entry("u1", "DU1", R"("client_id":"app")"), entry("u2", "DU2", R"("client_id":"app","key_id":"other")")},
         "users[1].key_id: differs from users[0].key_id of the same client_id \"app\""},
        {{entry("u1", "DU1", R"("client_id":"app")"),
          entry("u2", "DU2", R"("client_id":"app","public_key_file":")" + other_key + "\"")},
         "users[1].public_key: differs from users[0].public_key"},
        {{entry("u1", "DU1", R"("client_id":"app")"), entry("u2", "DU2", R"("client_id":"app","scope":"x")")},
         "users[1].scope: differs"},
        {{}, "users: at least one user"},
        {{"42"}, "users[0]: must be an object"},
    };
    for (const auto& [entries, expected] : cases) {
        const std::string error = users_error(entries);
        EXPECT_NE(error.find("--users "), std::string::npos) << error;
        EXPECT_NE(error.find(expected), std::string::npos) << error << "\n  expected: " << expected;
    }
    EXPECT_NE(error_of({"--users", dir_.write("bad.json", "{\"users\":").string()}, false).find("not JSON"),
              std::string::npos);
    EXPECT_NE(error_of({"--users", dir_.write("shape.json", "[]").string()}, false).find(R"(must be {"users":[...]})"),
              std::string::npos);
    EXPECT_NE(error_of({"--users", "/nonexistent/users.json"}, false).find("--users /nonexistent/users.json"),
              std::string::npos);
}

TEST_F(users_file_test, refuses_users_together_with_the_single_user_flags) {
    const auto file = users_file({entry("u1", "DU1")});
    for (const std::vector<std::string>& line :
         {std::vector<std::string>{"--credential", "someone"}, {"--account", "DU9"}, {"--env-file", "x.env"},
          {"--client-id", "c"}, {"--allowed-ip", "127.0.0.1"}}) {
        std::vector<std::string> args{"--users", file};
        args.insert(args.end(), line.begin(), line.end());
        const std::string error = error_of(args, false);
        EXPECT_NE(error.find("--users replaces the single-user flags: drop " + line.front()), std::string::npos) << error;
    }
    EXPECT_NE(error_of({"--users", file}, true).find("drop --client-public-key"), std::string::npos);
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
