// Replica overlaps: the bookkeeping alone (who holds a username, what counts as another replica
// acting on it, the bound), then the model feeding it from real signed requests, and the control API
// answering GET /control/overlaps and /control/holders.

#include "ibkr_sim/control_api.hpp"
#include "ibkr_sim/ibkr_model.hpp"
#include "ibkr_sim/replica_overlaps.hpp"

#include "ibkr_requests.hpp"
#include "support/test_keys.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <string>

namespace sessiond::sim {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

constexpr std::string_view agent_a = "ibkr-sessiond/0.9.0 (replica a)";
constexpr std::string_view agent_b = "ibkr-sessiond/0.9.0 (replica b)";
const wall_time t0 = wall_time{} + 1'800'000'000s;

// ---- the bookkeeping ----

TEST(replica_overlaps, a_takeover_login_by_another_agent_is_not_an_overlap) {
    replica_overlaps o;
    o.session_opened("alice", agent_a);
    EXPECT_FALSE(o.acted("alice", agent_a, "/v1/api/tickle", t0));
    o.session_opened("alice", agent_b);
    EXPECT_EQ(o.count(), 0u);
    EXPECT_TRUE(o.records().empty());
    EXPECT_EQ(o.holder("alice"), agent_b);
}

TEST(replica_overlaps, the_old_agents_request_after_a_takeover_is_an_overlap) {
    replica_overlaps o;
    o.session_opened("alice", agent_a);
    o.session_opened("alice", agent_b);
    EXPECT_TRUE(o.acted("alice", agent_a, "/v1/api/tickle", t0 + 5ms));
    EXPECT_EQ(o.count(), 1u);
    ASSERT_EQ(o.records().size(), 1u);
    const replica_overlap& r = o.records().front();
    EXPECT_EQ(r.user, "alice");
    EXPECT_EQ(r.agent, agent_a);
    EXPECT_EQ(r.holder, agent_b);
    EXPECT_EQ(r.path, "/v1/api/tickle");
    EXPECT_EQ(r.at_ms, epoch_ms(t0) + 5);
}

TEST(replica_overlaps, the_new_holders_requests_are_not_overlaps) {
    replica_overlaps o;
    o.session_opened("alice", agent_a);
    o.session_opened("alice", agent_b);
    for (const char* path : {"/v1/api/tickle", "/v1/api/sso/validate", "/v1/api/iserver/auth/ssodh/init",
                             "/v1/api/iserver/accounts", "/v1/api/ws", "/v1/api/logout"})
        EXPECT_FALSE(o.acted("alice", agent_b, path, t0)) << path;
    EXPECT_EQ(o.count(), 0u);
}

TEST(replica_overlaps, a_request_without_user_agent_is_agent_empty_like_any_other) {
    replica_overlaps o;
    o.session_opened("alice", agent_a);
    EXPECT_TRUE(o.acted("alice", "", "/v1/api/tickle", t0));
    o.session_opened("alice", "");
    EXPECT_FALSE(o.acted("alice", "", "/v1/api/tickle", t0));
    EXPECT_TRUE(o.acted("alice", agent_a, "/v1/api/tickle", t0));
    EXPECT_EQ(o.count(), 2u);
    EXPECT_EQ(o.records().back().holder, "");
}

TEST(replica_overlaps, usernames_are_held_apart_and_an_unheld_one_has_no_overlaps) {
    replica_overlaps o;
    o.session_opened("alice", agent_a);
    o.session_opened("bob", agent_b);
    EXPECT_FALSE(o.acted("alice", agent_a, "/v1/api/tickle", t0));
    EXPECT_FALSE(o.acted("bob", agent_b, "/v1/api/tickle", t0));
    EXPECT_FALSE(o.acted("carol", agent_a, "/v1/api/tickle", t0));  // nobody ever logged in as carol
    EXPECT_TRUE(o.acted("bob", agent_a, "/v1/api/tickle", t0));
    EXPECT_EQ(o.count(), 1u);
    EXPECT_FALSE(o.holder("carol").has_value());
}

TEST(replica_overlaps, keeps_the_first_hundred_records_and_counts_every_overlap) {
    replica_overlaps o;
    o.session_opened("alice", agent_b);
    for (int i = 0; i < 250; ++i)
        EXPECT_TRUE(o.acted("alice", agent_a, "/v1/api/tickle?n=" + std::to_string(i), t0 + std::chrono::milliseconds(i)));
    EXPECT_EQ(o.count(), 250u);
    ASSERT_EQ(o.records().size(), replica_overlaps::max_records);
    EXPECT_EQ(replica_overlaps::max_records, 100u);
    EXPECT_EQ(o.records().front().at_ms, epoch_ms(t0));
    EXPECT_EQ(o.records().back().at_ms, epoch_ms(t0) + 99);
    const auto j = o.overlaps_json();
    EXPECT_EQ(j.at("count"), 250);
    EXPECT_EQ(j.at("overlaps").as_array().size(), 100u);
}

TEST(replica_overlaps, json_shapes) {
    replica_overlaps o;
    EXPECT_EQ(o.overlaps_json(), (json::object{{"count", 0}, {"overlaps", json::array{}}}));
    EXPECT_EQ(o.holders_json(), (json::object{{"holders", json::object{}}}));
    o.session_opened("alice", agent_a);
    o.session_opened("alice", agent_b);
    o.acted("alice", agent_a, "/v1/api/tickle", t0);
    EXPECT_EQ(o.overlaps_json(), (json::object{{"count", 1},
                                               {"overlaps", json::array{json::object{{"user", "alice"},
                                                                                     {"agent", agent_a},
                                                                                     {"holder", agent_b},
                                                                                     {"path", "/v1/api/tickle"},
                                                                                     {"at_ms", epoch_ms(t0)}}}}}));
    EXPECT_EQ(o.holders_json(), (json::object{{"holders", json::object{{"alice", agent_b}}}}));
}

// ---- the model feeding it, and the control API answering ----

class replica_overlaps_model_test : public ::testing::Test {
protected:
    replica_overlaps_model_test()
        : model_(ibkr_model::create(config()).value()),
          journal_(std::chrono::steady_clock::now()),
          api_(model_, faults_, journal_, websockets_, {}) {}

    static model_config config() {
        model_config c;
        c.users.front().public_key_pem = sessiond::testing::shared_rsa_key().public_pem;
        c.max_requests_per_second = 0;
        return c;
    }
    const std::string& username() const { return model_.user(0).username; }

    static http_request as(http_request req, std::string_view agent) {
        if (!agent.empty()) req.set(http::field::user_agent, agent);
        return req;
    }
    model_reply send(const http_request& req) {
        now_ += 2s;  // past the tickle and request limits
        return model_.handle(req, now_);
    }
    // Steps 1 and 2 as `agent` ("" sends no User-Agent): the SSO bearer.
    std::string login(std::string_view agent) {
        const requests::client_identity id;
        const auto assertion = requests::sign(requests::assertion_claims(id, now_), id.key_id);
        const auto token = send(as(requests::post("/oauth2/api/v1/token",
                                                  requests::form_body(requests::token_form(id, assertion)),
                                                  "application/x-www-form-urlencoded"),
                                   agent));
        EXPECT_EQ(token.response.result_int(), 200u) << token.response.body();
        const auto access = std::string(json_of(token).at("access_token").as_string());
        const auto sso = send(as(requests::post("/gw/api/v1/sso-sessions",
                                                requests::sign(requests::sso_claims(id, now_), id.key_id),
                                                "application/jwt", access),
                                 agent));
        EXPECT_EQ(sso.response.result_int(), 200u) << sso.response.body();
        return std::string(json_of(sso).at("access_token").as_string());
    }
    model_reply tickle(std::string_view bearer, std::string_view agent) {
        return send(as(requests::post("/v1/api/tickle", "", "", bearer), agent));
    }
    http_response control(std::string_view target) {
        return api_.handle(http_request{http::verb::get, target, 11}, now_);
    }
    static json::object json_of(const model_reply& r) { return parse(r.response.body()); }
    static json::object parse(const std::string& body) {
        boost::system::error_code ec;
        auto v = json::parse(body, ec);
        return (!ec && v.is_object()) ? v.as_object() : json::object{};
    }

    ibkr_model model_;
    fault_injector faults_;
    request_journal journal_;
    websocket_registry websockets_;
    control_api api_;
    wall_time now_ = t0;
};

TEST_F(replica_overlaps_model_test, a_takeover_is_no_overlap_but_the_old_replicas_tickle_after_it_is) {
    const std::string old_bearer = login(agent_a);
    EXPECT_EQ(tickle(old_bearer, agent_a).response.result_int(), 200u);
    const std::string new_bearer = login(agent_b);
    EXPECT_EQ(model_.overlaps().count(), 0u);
    EXPECT_EQ(model_.overlaps().holder(username()), agent_b);

    EXPECT_EQ(tickle(new_bearer, agent_b).response.result_int(), 200u);
    EXPECT_EQ(model_.overlaps().count(), 0u);
    // The superseded bearer still names the user: IBKR refuses it, but replica a did act on the user.
    EXPECT_EQ(tickle(old_bearer, agent_a).reason, "sso_superseded");
    ASSERT_EQ(model_.overlaps().count(), 1u);
    const replica_overlap& r = model_.overlaps().records().front();
    EXPECT_EQ(r.user, username());
    EXPECT_EQ(r.agent, agent_a);
    EXPECT_EQ(r.holder, agent_b);
    EXPECT_EQ(r.path, "/v1/api/tickle");
    EXPECT_EQ(r.at_ms, epoch_ms(now_));
    // With the live bearer too (two replicas sharing one session is the same fault).
    EXPECT_EQ(tickle(new_bearer, agent_a).response.result_int(), 200u);
    EXPECT_EQ(model_.overlaps().count(), 2u);
}

TEST_F(replica_overlaps_model_test, a_request_without_user_agent_is_compared_as_agent_empty) {
    const std::string bearer = login("");
    EXPECT_EQ(tickle(bearer, "").response.result_int(), 200u);
    EXPECT_EQ(model_.overlaps().count(), 0u);
    EXPECT_EQ(model_.overlaps().holder(username()), "");
    tickle(bearer, agent_a);
    EXPECT_EQ(model_.overlaps().count(), 1u);
}

TEST_F(replica_overlaps_model_test, the_websocket_upgrade_and_the_session_cookie_name_the_user_too) {
    login(agent_a);
    const std::string bearer = login(agent_b);
    const std::string session(json_of(tickle(bearer, agent_b)).at("session").as_string());
    // Not a complete upgrade (IBKR answers 400): what the request was answered does not matter.
    http_request upgrade{http::verb::get, "/v1/api/ws?bearer_token=" + bearer, 11};
    upgrade.set(http::field::user_agent, agent_a);
    send(upgrade);
    // No bearer at all, only the api cookie of the user's session.
    http_request cookie_only{http::verb::get, "/v1/api/sso/validate", 11};
    cookie_only.set(http::field::user_agent, agent_a);
    cookie_only.set(http::field::cookie, "api=" + session);
    send(cookie_only);
    ASSERT_EQ(model_.overlaps().count(), 2u);
    EXPECT_EQ(model_.overlaps().records()[0].path, "/v1/api/ws");  // the bearer in the query is not kept
    EXPECT_EQ(model_.overlaps().records()[1].path, "/v1/api/sso/validate");
}

TEST_F(replica_overlaps_model_test, a_request_for_nobody_is_no_overlap) {
    login(agent_a);
    tickle("not-a-bearer", agent_b);
    tickle("", agent_b);
    EXPECT_EQ(model_.overlaps().count(), 0u);
}

TEST_F(replica_overlaps_model_test, control_api_answers_overlaps_and_holders) {
    auto res = control("/control/overlaps");
    ASSERT_EQ(res.result_int(), 200u);
    EXPECT_EQ(parse(res.body()), (json::object{{"count", 0}, {"overlaps", json::array{}}}));
    EXPECT_EQ(parse(control("/control/holders").body()), (json::object{{"holders", json::object{}}}));

    const std::string old_bearer = login(agent_a);
    login(agent_b);
    tickle(old_bearer, agent_a);
    const auto at = epoch_ms(now_);
    res = control("/control/overlaps");
    ASSERT_EQ(res.result_int(), 200u);
    EXPECT_EQ(res[http::field::content_type], "application/json");
    EXPECT_EQ(parse(res.body()), (json::object{{"count", 1},
                                               {"overlaps", json::array{json::object{{"user", username()},
                                                                                     {"agent", agent_a},
                                                                                     {"holder", agent_b},
                                                                                     {"path", "/v1/api/tickle"},
                                                                                     {"at_ms", at}}}}}));
    res = control("/control/holders");
    ASSERT_EQ(res.result_int(), 200u);
    EXPECT_EQ(parse(res.body()), (json::object{{"holders", json::object{{username(), agent_b}}}}));

    // reset-stats leaves them: a reset cannot hide an earlier overlap.
    ASSERT_EQ(api_.handle(http_request{http::verb::post, "/control/reset-stats", 11}, now_).result_int(), 200u);
    EXPECT_EQ(parse(control("/control/overlaps").body()).at("count"), 1);
    EXPECT_EQ(api_.handle(http_request{http::verb::post, "/control/overlaps", 11}, now_).result_int(), 405u);
}

}  // namespace
}  // namespace sessiond::sim
