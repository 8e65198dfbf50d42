// The model serving many users (--users): each username has its own sessions, limits and orders, a
// client's OAuth token reaches only that client's usernames, and a 429 boxes an IP address, not the
// simulator. Checked on the model alone (no sockets), with real keys and real signatures.

#include "ibkr_sim/ibkr_model.hpp"

#include "ibkr_requests.hpp"
#include "support/temp_dir.hpp"
#include "support/test_keys.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace sessiond::sim {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using requests::client_identity;
using sessiond::testing::other_rsa_key;
using sessiond::testing::rsa_test_key;
using sessiond::testing::shared_rsa_key;

json::value json_of(const model_reply& r) {
    boost::system::error_code ec;
    json::value v = json::parse(r.response.body(), ec);
    return ec ? json::value() : v;
}

user_config user(std::string client_id, std::string username, std::vector<std::string> accounts,
                 std::string ip = "127.0.0.1", const rsa_test_key& key = shared_rsa_key()) {
    user_config u;
    u.client_id = std::move(client_id);
    u.public_key_pem = key.public_pem;
    u.username = std::move(username);
    u.accounts = std::move(accounts);
    u.allowed_ip = std::move(ip);
    return u;
}

// What the client of `u` signs its requests with, logging in as `u`.
client_identity identity_of(const user_config& u) {
    client_identity id;
    id.client_id = u.client_id;
    id.key_id = u.key_id;
    id.credential = u.username;
    id.ip = u.allowed_ip;
    return id;
}

class ibkr_model_users_test : public ::testing::Test {
protected:
    void configure(std::vector<user_config> users, sim_duration penalty_box = {}, std::size_t per_second = 10) {
        model_config c;
        c.users = std::move(users);
        c.penalty_box = penalty_box;
        c.max_requests_per_second = per_second;
        model_.emplace(ibkr_model::create(std::move(c)).value());
    }

    model_reply send(const http_request& req) { return model_->handle(req, now_); }

    static http_request post(std::string_view path, std::string body, std::string_view content_type,
                             std::string_view bearer = {}) {
        return requests::post(path, std::move(body), content_type, bearer);
    }
    static http_request get(std::string_view path, std::string_view bearer = {}) { return requests::get(path, bearer); }

    model_reply request_token(const client_identity& id, const rsa_test_key& key) {
        const auto assertion = requests::sign(requests::assertion_claims(id, now_), id.key_id, key);
        return send(post("/oauth2/api/v1/token", requests::form_body(requests::token_form(id, assertion)),
                         "application/x-www-form-urlencoded"));
    }
    std::string oauth_token(const client_identity& id, const rsa_test_key& key = shared_rsa_key()) {
        const auto r = request_token(id, key);
        EXPECT_EQ(r.response.result_int(), 200u) << r.response.body();
        return r.response.result_int() == 200u ? std::string(json_of(r).at("access_token").as_string()) : "";
    }
    model_reply request_sso(std::string_view token, const client_identity& id,
                            const rsa_test_key& key = shared_rsa_key()) {
        return send(post("/gw/api/v1/sso-sessions", requests::sign(requests::sso_claims(id, now_), id.key_id, key),
                         "application/jwt", token));
    }
    std::string sso_bearer(const user_config& u, const rsa_test_key& key = shared_rsa_key()) {
        const client_identity id = identity_of(u);
        const auto r = request_sso(oauth_token(id, key), id, key);
        EXPECT_EQ(r.response.result_int(), 200u) << r.response.body();
        return r.response.result_int() == 200u ? std::string(json_of(r).at("access_token").as_string()) : "";
    }
    // A session ready for trading: SSO bearer, brokerage initialised, /iserver/accounts queried.
    std::string trading_bearer(const user_config& u, const rsa_test_key& key = shared_rsa_key()) {
        const std::string bearer = sso_bearer(u, key);
        EXPECT_EQ(send(post("/v1/api/iserver/auth/ssodh/init", R"({"publish":true,"compete":true})",
                            "application/json", bearer))
                      .response.result_int(),
                  200u);
        EXPECT_EQ(send(get("/v1/api/iserver/accounts", bearer)).response.result_int(), 200u);
        return bearer;
    }
    model_reply tickle(std::string_view bearer) { return send(post("/v1/api/tickle", "", "", bearer)); }
    model_reply place(std::string_view bearer, std::string_view account) {
        return send(post("/v1/api/iserver/account/" + std::string(account) + "/orders",
                         R"({"orders":[{"conid":265598,"orderType":"LMT","price":100,"side":"BUY","quantity":1,"tif":"DAY"}]})",
                         "application/json", bearer));
    }

    std::optional<ibkr_model> model_;
    wall_time now_ = wall_time{} + 1'800'000'000s;
};

TEST_F(ibkr_model_users_test, two_users_on_two_clients_hold_sso_sessions_at_once) {
    const auto alice = user("client-a", "alice", {"DU0000001"});
    const auto bob = user("client-b", "bob", {"DU0000002"}, "127.0.0.1", other_rsa_key());
    configure({alice, bob});
    const std::string a = sso_bearer(alice);
    const std::string b = sso_bearer(bob, other_rsa_key());
    EXPECT_TRUE(model_->sso_bearer_active(a, now_));
    EXPECT_TRUE(model_->sso_bearer_active(b, now_));
    EXPECT_EQ(model_->active_sso_sessions(now_), 2u);
    EXPECT_EQ(tickle(a).response.result_int(), 200u);
    EXPECT_EQ(tickle(b).response.result_int(), 200u);  // tickle's 1/s is per username
    const auto validated = send(get("/v1/api/sso/validate", b));
    EXPECT_EQ(json_of(validated).at("USER_NAME"), "bob");
    EXPECT_EQ(model_->counters(0).tickles, 1u);
    EXPECT_EQ(model_->counters(1).tickles, 1u);
    EXPECT_EQ(model_->counters().tickles, 2u);
}

TEST_F(ibkr_model_users_test, a_new_sso_session_supersedes_only_the_same_usernames_session) {
    const auto alice = user("client-a", "alice", {"DU0000001"});
    const auto bob = user("client-b", "bob", {"DU0000002"});
    configure({alice, bob});
    const std::string first = sso_bearer(alice);
    const std::string b = sso_bearer(bob);
    const std::string second = sso_bearer(alice);
    EXPECT_EQ(tickle(first).reason, "sso_superseded");
    EXPECT_EQ(tickle(second).response.result_int(), 200u);
    EXPECT_EQ(tickle(b).response.result_int(), 200u);
}

TEST_F(ibkr_model_users_test, a_bearer_reaches_only_its_own_users_accounts_and_orders) {
    const auto alice = user("client-a", "alice", {"DU0000001"});
    const auto bob = user("client-b", "bob", {"DU0000002", "DU0000003"});
    configure({alice, bob});
    const std::string a = trading_bearer(alice);
    const std::string b = trading_bearer(bob);

    const auto accounts = json_of(send(get("/v1/api/iserver/accounts", a)));
    EXPECT_EQ(accounts.at("accounts"), (json::array{"DU0000001"}));
    const auto portfolio = json_of(send(get("/v1/api/portfolio/accounts", b))).as_array();
    ASSERT_EQ(portfolio.size(), 2u);
    EXPECT_EQ(portfolio[0].at("id"), "DU0000002");

    ASSERT_EQ(place(a, "DU0000001").response.result_int(), 200u);
    // Bob's account, from Alice's session: the answer of an account that does not exist.
    const auto foreign = place(a, "DU0000002");
    EXPECT_EQ(foreign.response.result_int(), 400u);
    EXPECT_EQ(foreign.reason, "account_not_owned");
    EXPECT_EQ(json_of(foreign), (json::object{{"error", "Account DU0000002 not found"}, {"statusCode", 400}}));
    EXPECT_EQ(place(a, "DU9999999").reason, "unknown_account");
    EXPECT_EQ(json_of(place(a, "DU9999999")).at("error"), "Account DU9999999 not found");

    EXPECT_EQ(json_of(send(get("/v1/api/iserver/account/orders", a))).at("orders").as_array().size(), 1u);
    EXPECT_EQ(json_of(send(get("/v1/api/iserver/account/orders", b))).at("orders").as_array().size(), 0u);
    EXPECT_EQ(model_->orders(0).size(), 1u);
    EXPECT_EQ(model_->orders(1).size(), 0u);
    EXPECT_EQ(model_->counters(0).orders_placed, 1u);
    EXPECT_EQ(model_->counters(1).orders_placed, 0u);
    EXPECT_EQ(model_->order_bodies().received().size(), 4u);  // every body that arrived, whoever sent it
}

TEST_F(ibkr_model_users_test, order_ids_are_unique_across_users) {
    const auto alice = user("client-a", "alice", {"DU0000001"});
    const auto bob = user("client-b", "bob", {"DU0000002"});
    configure({alice, bob});
    const std::string a = trading_bearer(alice);
    const std::string b = trading_bearer(bob);
    const auto first = json_of(place(a, "DU0000001")).at(0).at("order_id");
    const auto second = json_of(place(b, "DU0000002")).at(0).at("order_id");
    EXPECT_NE(first, second);
}

TEST_F(ibkr_model_users_test, a_429_boxes_the_users_ip_and_every_user_on_it_but_no_other_ip) {
    const auto alice = user("client-a", "alice", {"DU0000001"}, "10.0.0.1");
    const auto bob = user("client-b", "bob", {"DU0000002"}, "10.0.0.1");
    const auto carol = user("client-c", "carol", {"DU0000003"}, "10.0.0.2");
    configure({alice, bob, carol}, 60s);
    const std::string a = sso_bearer(alice);
    const std::string b = sso_bearer(bob);
    const std::string c = sso_bearer(carol);
    ASSERT_EQ(tickle(a).response.result_int(), 200u);
    ASSERT_EQ(tickle(a).reason, "rate_limited");  // Alice's tickle limit boxes 10.0.0.1

    EXPECT_EQ(model_->penalty_box_left(now_, "10.0.0.1"), 60s);
    EXPECT_EQ(model_->penalty_box_left(now_, "10.0.0.2"), std::nullopt);
    EXPECT_EQ(tickle(b).reason, "penalty_box");  // Bob shares Alice's address
    EXPECT_EQ(request_token(identity_of(bob), shared_rsa_key()).reason, "penalty_box");  // his client's too
    EXPECT_EQ(tickle(c).response.result_int(), 200u);
    EXPECT_EQ(oauth_token(identity_of(carol)).empty(), false);
    EXPECT_EQ(model_->counters().penalty_box_violations, 2u);
    now_ += 60s;  // exactly 60 s after the last violation the box opens
    EXPECT_EQ(tickle(b).response.result_int(), 200u);
}

TEST_F(ibkr_model_users_test, the_request_rate_is_per_username) {
    const auto alice = user("client-a", "alice", {"DU0000001"});
    const auto bob = user("client-b", "bob", {"DU0000002"});
    configure({alice, bob}, {}, 3);
    const std::string a = sso_bearer(alice);  // Alice's requests 1 and 2 (her client has one user)
    const std::string b = sso_bearer(bob);
    EXPECT_EQ(send(get("/v1/api/iserver/auth/status", a)).response.result_int(), 405u);  // 3 (GET: 405)
    EXPECT_EQ(tickle(a).reason, "global_rate_limited");
    EXPECT_EQ(tickle(b).response.result_int(), 200u);  // Bob's third
}

TEST_F(ibkr_model_users_test, one_client_serves_two_usernames_with_one_oauth_token) {
    const auto u1 = user("shared-app", "u1", {"DU0000001"});
    const auto u2 = user("shared-app", "u2", {"DU0000002"});
    configure({u1, u2}, {}, 3);
    const std::string token = oauth_token(identity_of(u1));
    const auto first = request_sso(token, identity_of(u1));
    const auto second = request_sso(token, identity_of(u2));
    ASSERT_EQ(first.response.result_int(), 200u) << first.response.body();
    ASSERT_EQ(second.response.result_int(), 200u) << second.response.body();
    EXPECT_EQ(model_->active_sso_sessions(now_), 2u);
    EXPECT_EQ(model_->counters(0).sso_sessions_created, 1u);
    EXPECT_EQ(model_->counters(1).sso_sessions_created, 1u);
    // Token and sso-sessions requests count in the client's own window (3 per second here) ...
    EXPECT_EQ(request_token(identity_of(u1), shared_rsa_key()).reason, "global_rate_limited");
    // ... not in its users' windows.
    const std::string b1 = std::string(json_of(first).at("access_token").as_string());
    EXPECT_EQ(tickle(b1).response.result_int(), 200u);
}

TEST_F(ibkr_model_users_test, an_sso_jwt_naming_another_clients_user_is_rejected) {
    const auto x = user("client-x", "xavier", {"DU0000001"});
    const auto y = user("client-y", "yvonne", {"DU0000002"}, "127.0.0.1", other_rsa_key());
    configure({x, y});
    const std::string token = oauth_token(identity_of(x));
    client_identity as_y = identity_of(x);
    as_y.credential = "yvonne";  // X's app, X's key, Y's username
    const auto r = request_sso(token, as_y);
    EXPECT_EQ(r.response.result_int(), 403u);
    EXPECT_EQ(r.reason, "credential_rejected");
    // Y's own JWT on X's token is checked with X's key, and X's id as iss.
    const auto signed_by_y = request_sso(token, identity_of(y), other_rsa_key());
    EXPECT_EQ(signed_by_y.response.result_int(), 401u);
    EXPECT_EQ(signed_by_y.reason, "sso_jwt_bad_signature");
    EXPECT_EQ(model_->active_sso_sessions(now_), 0u);
}

TEST_F(ibkr_model_users_test, each_client_signs_with_its_own_key) {
    const auto x = user("client-x", "xavier", {"DU0000001"});
    const auto y = user("client-y", "yvonne", {"DU0000002"}, "127.0.0.1", other_rsa_key());
    configure({x, y});
    EXPECT_EQ(request_token(identity_of(y), shared_rsa_key()).reason, "assertion_bad_signature");
    EXPECT_EQ(request_token(identity_of(y), other_rsa_key()).response.result_int(), 200u);
    client_identity nobody = identity_of(x);
    nobody.client_id = "nobody";
    EXPECT_EQ(request_token(nobody, shared_rsa_key()).reason, "assertion_wrong_iss");
}

TEST_F(ibkr_model_users_test, the_ip_claim_must_be_that_users_allowed_ip) {
    const auto u1 = user("shared-app", "u1", {"DU0000001"}, "10.0.0.1");
    const auto u2 = user("shared-app", "u2", {"DU0000002"}, "10.0.0.2");
    configure({u1, u2});
    const std::string token = oauth_token(identity_of(u1));
    client_identity wrong = identity_of(u2);
    wrong.ip = "10.0.0.1";
    EXPECT_EQ(request_sso(token, wrong).reason, "ip_not_allowed");
    EXPECT_EQ(request_sso(token, identity_of(u2)).response.result_int(), 200u);
}

TEST_F(ibkr_model_users_test, control_actions_apply_to_the_named_user_or_to_every_user) {
    const auto alice = user("client-a", "alice", {"DU0000001"});
    const auto bob = user("client-b", "bob", {"DU0000002"});
    configure({alice, bob});
    const std::string a = trading_bearer(alice);
    const std::string b = trading_bearer(bob);
    model_->set_competing(true, "bob");
    EXPECT_FALSE(model_->competing(0));
    EXPECT_TRUE(model_->competing(1));
    EXPECT_TRUE(model_->brokerage(0, now_).authenticated);
    EXPECT_TRUE(model_->brokerage(1, now_).competing);
    model_->expire_sessions("alice");
    EXPECT_FALSE(model_->sso_active(0, now_));
    EXPECT_TRUE(model_->sso_active(1, now_));
    model_->expire_sessions();
    EXPECT_EQ(model_->active_sso_sessions(now_), 0u);
}

// Without sockets, so that it stays fast: the users file read as the simulator reads it, then every
// user logs in (one OAuth token per client, one SSO session per user).
TEST(ibkr_model_many_users, a_thousand_user_file_loads_and_every_user_logs_in) {
    sessiond::testing::temp_dir dir;
    const auto key_file = dir.write("client.pem", shared_rsa_key().pkcs8_pem).string();
    constexpr std::size_t users = 1000;
    constexpr std::size_t per_client = 50;
    json::array list;
    for (std::size_t i = 0; i < users; ++i)
        list.push_back(json::object{{"client_id", "app-" + std::to_string(i / per_client)},
                                    {"key_id", "main"},
                                    {"public_key_file", key_file},
                                    {"username", "user" + std::to_string(i)},
                                    {"accounts", json::array{"DU" + std::to_string(1'000'000 + i)}},
                                    {"environment", i % 2 == 0 ? "paper" : "live"},
                                    {"allowed_ip", "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250)}});
    const auto file = dir.write("users.json", json::serialize(json::object{{"users", std::move(list)}})).string();
    auto loaded = load_users_file(file);
    ASSERT_TRUE(loaded.has_value()) << loaded.error().message;
    ASSERT_EQ(loaded->size(), users);

    model_config c;
    c.users = std::move(*loaded);
    c.max_requests_per_second = 0;
    ibkr_model model = ibkr_model::create(std::move(c)).value();
    const wall_time now = wall_time{} + 1'800'000'000s;
    auto post = [](std::string_view path, std::string body, std::string_view type, std::string_view bearer) {
        http_request req{http::verb::post, path, 11};
        req.set(http::field::content_type, type);
        if (!bearer.empty()) req.set(http::field::authorization, "Bearer " + std::string(bearer));
        req.body() = std::move(body);
        req.content_length(req.body().size());
        return req;
    };
    std::string token;
    for (std::size_t i = 0; i < users; ++i) {
        const client_identity id = identity_of(model.user(i));
        if (i % per_client == 0) {
            const auto assertion = requests::sign(requests::assertion_claims(id, now), "main");
            const auto r = model.handle(post("/oauth2/api/v1/token", requests::form_body(requests::token_form(id, assertion)),
                                             "application/x-www-form-urlencoded", {}),
                                        now);
            ASSERT_EQ(r.response.result_int(), 200u) << i << r.response.body();
            token = std::string(json_of(r).at("access_token").as_string());
        }
        const auto r = model.handle(
            post("/gw/api/v1/sso-sessions", requests::sign(requests::sso_claims(id, now), "main"), "application/jwt", token),
            now);
        ASSERT_EQ(r.response.result_int(), 200u) << i << r.response.body();
    }
    EXPECT_EQ(model.active_sso_sessions(now), users);
    EXPECT_EQ(model.counters().tokens_issued, users / per_client);
}

}  // namespace
}  // namespace sessiond::sim
