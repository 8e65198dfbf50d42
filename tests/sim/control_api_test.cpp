// The control API without sockets: its switches reach the model, bad input is refused with a reason,
// and the state document has every field tests rely on.

#include "ibkr_sim/control_api.hpp"

#include "support/test_keys.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <initializer_list>
#include <optional>
#include <utility>

namespace sessiond::sim {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

class control_api_test : public ::testing::Test {
protected:
    control_api_test()
        : model_(ibkr_model::create(make_config()).value()),
          journal_(std::chrono::steady_clock::now()),
          api_(model_, faults_, journal_, websockets_, [] { return connection_stats{3, 1}; }) {}

    static model_config make_config() {
        model_config c;
        c.users.front().public_key_pem = sessiond::testing::shared_rsa_key().public_pem;
        return c;
    }

    http_response call(http::verb method, std::string_view target, std::string body = {}) {
        http_request req{method, target, 11};
        req.body() = std::move(body);
        req.prepare_payload();
        return api_.handle(req, now_);
    }

    static json::object body_of(const http_response& res) {
        boost::system::error_code ec;
        auto v = json::parse(res.body(), ec);
        return (!ec && v.is_object()) ? v.as_object() : json::object{};
    }

    // Each body POSTed to target gets 400 with an error that contains its text.
    void expect_refused(std::string_view target,
                        std::initializer_list<std::pair<std::string_view, std::string_view>> body_and_error) {
        for (const auto& [body, error] : body_and_error) {
            const auto res = call(http::verb::post, target, std::string(body));
            EXPECT_EQ(res.result_int(), 400u) << body;
            EXPECT_NE(body_of(res).at("error").as_string().find(error), json::string::npos)
                << body << " -> " << res.body();
        }
    }

    ibkr_model model_;
    fault_injector faults_;
    request_journal journal_;
    websocket_registry websockets_;
    control_api api_;
    wall_time now_ = wall_time{} + 1'800'000'000s;
};

TEST_F(control_api_test, queues_a_valid_fault) {
    const auto res = call(http::verb::post, "/control/fault", R"({"path":"/v1/api/tickle","action":"hang"})");
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_EQ(faults_.pending(), 1u);
    EXPECT_EQ(call(http::verb::post, "/control/clear-faults").result_int(), 200u);
    EXPECT_EQ(faults_.pending(), 0u);
}

TEST_F(control_api_test, refuses_an_invalid_fault_naming_the_problem) {
    const auto res = call(http::verb::post, "/control/fault", R"({"path":"/v1/api/tickle","action":"melt"})");
    EXPECT_EQ(res.result_int(), 400u);
    EXPECT_NE(body_of(res).at("error").as_string().find("melt"), json::string::npos);
    EXPECT_EQ(faults_.pending(), 0u);
}

TEST_F(control_api_test, switches_reach_the_model) {
    EXPECT_EQ(call(http::verb::post, "/control/competing", R"({"on":true})").result_int(), 200u);
    EXPECT_TRUE(model_.competing());
    EXPECT_EQ(call(http::verb::post, "/control/maintenance", R"({"on":true})").result_int(), 200u);
    EXPECT_TRUE(model_.maintenance(now_));
    EXPECT_EQ(call(http::verb::post, "/control/maintenance", R"({"on":false})").result_int(), 200u);
    EXPECT_FALSE(model_.maintenance(now_));
    EXPECT_EQ(call(http::verb::post, "/control/competing", R"({"on":"yes"})").result_int(), 400u);
    EXPECT_EQ(call(http::verb::post, "/control/competing", "").result_int(), 400u);
    EXPECT_TRUE(model_.competing());
}

TEST_F(control_api_test, lists_order_bodies_as_received_and_reset_stats_clears_them) {
    http_request order{http::verb::post, "/v1/api/iserver/account/DU1234567/orders", 11};
    order.body() = R"({"orders" : []})";
    order.prepare_payload();
    ASSERT_EQ(model_.handle(order, now_).reason, "missing_bearer");
    auto res = call(http::verb::get, "/control/orders");
    ASSERT_EQ(res.result_int(), 200u);
    const auto orders = body_of(res).at("orders").as_array();
    ASSERT_EQ(orders.size(), 1u);
    EXPECT_EQ(orders[0].at("body"), R"({"orders" : []})");
    EXPECT_EQ(orders[0].at("account"), "DU1234567");
    EXPECT_EQ(orders[0].at("status"), 401);
    EXPECT_EQ(orders[0].at("reason"), "missing_bearer");
    ASSERT_EQ(call(http::verb::post, "/control/reset-stats").result_int(), 200u);
    EXPECT_TRUE(body_of(call(http::verb::get, "/control/orders")).at("orders").as_array().empty());
}

TEST_F(control_api_test, lists_and_drops_websockets) {
    EXPECT_EQ(body_of(call(http::verb::get, "/control/ws")), (json::object{{"websockets", json::array{}}}));
    const auto dropped = call(http::verb::post, "/control/ws/drop");
    ASSERT_EQ(dropped.result_int(), 200u);
    EXPECT_EQ(body_of(dropped).at("dropped"), 0);
    EXPECT_EQ(call(http::verb::get, "/control/ws/drop").result_int(), 405u);
}

TEST_F(control_api_test, state_has_every_documented_field) {
    request_event e;
    e.method = "POST";
    e.path = "/v1/api/tickle";
    e.status = 401;
    e.reason = "missing_bearer";
    journal_.record(e, std::chrono::steady_clock::now());
    const auto res = call(http::verb::get, "/control/state");
    ASSERT_EQ(res.result_int(), 200u);
    const auto state = body_of(res);
    for (const auto* field : {"calls", "statuses", "tokens_issued", "sso_sessions_created", "validates", "inits",
                              "accounts", "tickles", "logouts", "rejections", "active_sso_sessions", "brokerage",
                              "competing_session", "maintenance", "maintenance_ends_in_ms", "penalty_box_ends_in_ms",
                              "penalty_box_violations", "open_connections", "refused_connections", "pending_faults",
                              "orders_placed", "websockets_accepted", "history_in_flight", "history_max_in_flight",
                              "websockets"})
        EXPECT_TRUE(state.contains(field)) << field;
    EXPECT_EQ(state.at("maintenance"), false);
    EXPECT_TRUE(state.at("maintenance_ends_in_ms").is_null());
    EXPECT_TRUE(state.at("penalty_box_ends_in_ms").is_null());
    EXPECT_EQ(state.at("penalty_box_violations"), 0);
    EXPECT_EQ(state.at("calls").at("/v1/api/tickle"), 1);
    EXPECT_EQ(state.at("statuses").at("/v1/api/tickle 401"), 1);
    EXPECT_EQ(state.at("rejections").at("missing_bearer"), 1);
    EXPECT_EQ(state.at("open_connections"), 3);
    EXPECT_EQ(state.at("refused_connections"), 1);
    EXPECT_EQ(state.at("brokerage").at("connected"), false);
    EXPECT_EQ(call(http::verb::post, "/control/reset-stats").result_int(), 200u);
    EXPECT_TRUE(body_of(call(http::verb::get, "/control/state")).at("calls").as_object().empty());
}

TEST_F(control_api_test, timed_maintenance_shows_its_end_in_the_state_and_ends_by_itself) {
    ASSERT_EQ(call(http::verb::post, "/control/maintenance", R"({"on":true,"duration_ms":1500})").result_int(), 200u);
    auto state = api_.state_json(now_);
    EXPECT_EQ(state.at("maintenance"), true);
    EXPECT_EQ(state.at("maintenance_ends_in_ms"), 1500);
    state = api_.state_json(now_ + 1499ms);
    EXPECT_EQ(state.at("maintenance"), true);
    EXPECT_EQ(state.at("maintenance_ends_in_ms"), 1);
    state = api_.state_json(now_ + 1500ms);
    EXPECT_EQ(state.at("maintenance"), false);
    EXPECT_TRUE(state.at("maintenance_ends_in_ms").is_null());
}

TEST_F(control_api_test, untimed_maintenance_has_no_end_and_off_cancels_a_timed_one) {
    ASSERT_EQ(call(http::verb::post, "/control/maintenance", R"({"on":true,"duration_ms":60000})").result_int(), 200u);
    ASSERT_EQ(call(http::verb::post, "/control/maintenance", R"({"on":true})").result_int(), 200u);
    EXPECT_TRUE(api_.state_json(now_).at("maintenance_ends_in_ms").is_null());
    EXPECT_TRUE(model_.maintenance(now_ + 24h));
    ASSERT_EQ(call(http::verb::post, "/control/maintenance", R"({"on":true,"duration_ms":60000})").result_int(), 200u);
    ASSERT_EQ(call(http::verb::post, "/control/maintenance", R"({"on":false})").result_int(), 200u);
    EXPECT_FALSE(model_.maintenance(now_));
    EXPECT_TRUE(api_.state_json(now_).at("maintenance_ends_in_ms").is_null());
}

TEST_F(control_api_test, refuses_maintenance_bodies_naming_the_problem) {
    expect_refused("/control/maintenance", {
        {R"({"on":true,"colour":"red"})", "colour"},
        {R"({"on":"yes"})", "\"on\""},
        {R"({"duration_ms":500})", "\"on\""},
        {R"({"on":false,"duration_ms":500})", "duration_ms"},
        {R"({"on":true,"duration_ms":0})", "duration_ms"},
        {R"({"on":true,"duration_ms":-1})", "duration_ms"},
        {R"({"on":true,"duration_ms":86400001})", "duration_ms"},
        {R"({"on":true,"duration_ms":1.5})", "duration_ms"},
        {R"({"on":true,"duration_ms":"500"})", "duration_ms"},
        {R"([true])", "body must be"},
        {"", "body must be"},
    });
    EXPECT_FALSE(model_.maintenance(now_));
    EXPECT_EQ(call(http::verb::get, "/control/maintenance").result_int(), 405u);
}

TEST_F(control_api_test, nightly_reset_takes_an_optional_maintenance_duration) {
    model_.set_competing(true);
    ASSERT_EQ(call(http::verb::post, "/control/nightly-reset").result_int(), 200u);
    EXPECT_FALSE(model_.competing());
    EXPECT_FALSE(model_.maintenance(now_));
    ASSERT_EQ(call(http::verb::post, "/control/nightly-reset", "{}").result_int(), 200u);
    EXPECT_FALSE(model_.maintenance(now_));
    ASSERT_EQ(call(http::verb::post, "/control/nightly-reset", R"({"duration_ms":0})").result_int(), 200u);
    EXPECT_FALSE(model_.maintenance(now_));
    ASSERT_EQ(call(http::verb::post, "/control/nightly-reset", R"({"duration_ms":30000})").result_int(), 200u);
    EXPECT_EQ(api_.state_json(now_).at("maintenance_ends_in_ms"), 30000);
    EXPECT_FALSE(model_.maintenance(now_ + 30s));
}

TEST_F(control_api_test, refuses_nightly_reset_bodies_naming_the_problem) {
    expect_refused("/control/nightly-reset", {
        {R"({"on":true})", "\"on\""},
        {R"({"duration_ms":-1})", "duration_ms"},
        {R"({"duration_ms":86400001})", "duration_ms"},
        {R"({"duration_ms":"soon"})", "duration_ms"},
        {R"({"duration_ms":null})", "duration_ms"},
        {"reset please", "body must be"},
    });
    EXPECT_FALSE(model_.maintenance(now_));
    EXPECT_EQ(call(http::verb::get, "/control/nightly-reset").result_int(), 405u);
}

TEST_F(control_api_test, state_counts_penalty_box_violations_and_shows_when_the_box_opens) {
    model_config c = make_config();
    c.max_requests_per_second = 1;
    c.penalty_box = 600s;
    ibkr_model model = ibkr_model::create(c).value();
    control_api api(model, faults_, journal_, websockets_, {});
    const http_request tickle{http::verb::get, "/v1/api/tickle", 11};
    ASSERT_EQ(model.handle(tickle, now_).reason, "missing_bearer");
    ASSERT_EQ(model.handle(tickle, now_).reason, "global_rate_limited");
    EXPECT_EQ(api.state_json(now_).at("penalty_box_ends_in_ms"), 600000);
    ASSERT_EQ(model.handle(tickle, now_ + 100s).reason, "penalty_box");
    ASSERT_EQ(model.handle(tickle, now_ + 200s).reason, "penalty_box");
    auto state = api.state_json(now_ + 250s);
    EXPECT_EQ(state.at("penalty_box_violations"), 2);
    EXPECT_EQ(state.at("penalty_box_ends_in_ms"), 550000);
    EXPECT_TRUE(api.state_json(now_ + 800s).at("penalty_box_ends_in_ms").is_null());
    ASSERT_EQ(api.handle(http_request{http::verb::post, "/control/reset-stats", 11}, now_).result_int(), 200u);
    EXPECT_EQ(api.state_json(now_ + 250s).at("penalty_box_violations"), 0);
}

// Two users: control actions take an optional user, and /control/state has a block per user.
class control_api_users_test : public control_api_test {
protected:
    control_api_users_test() : users_model_(ibkr_model::create(two_users()).value()),
                               users_api_(users_model_, faults_, journal_, websockets_, {}) {}

    static model_config two_users() {
        model_config c = make_config();
        user_config bob = c.users.front();
        bob.username = "bob";
        bob.accounts = {"DU7654321"};
        bob.allowed_ip = "10.0.0.2";
        c.users.front().username = "alice";
        c.users.push_back(bob);
        return c;
    }
    http_response call_users(http::verb method, std::string_view target, std::string body = {}) {
        http_request req{method, target, 11};
        req.body() = std::move(body);
        req.prepare_payload();
        return users_api_.handle(req, now_);
    }

    ibkr_model users_model_;
    control_api users_api_;
};

TEST_F(control_api_users_test, state_has_a_block_per_user_and_can_show_one) {
    const auto state = body_of(call_users(http::verb::get, "/control/state"));
    ASSERT_TRUE(state.contains("users"));
    const auto& users = state.at("users").as_object();
    ASSERT_EQ(users.size(), 2u);
    const auto& bob = users.at("bob").as_object();
    EXPECT_EQ(bob.at("sso_active"), false);
    EXPECT_EQ(bob.at("brokerage").at("authenticated"), false);
    EXPECT_EQ(bob.at("competing_session"), false);
    EXPECT_TRUE(bob.at("penalty_box_ends_in_ms").is_null());
    EXPECT_EQ(bob.at("counters").at("tickles"), 0);
    EXPECT_EQ(state.at("active_sso_sessions"), 0);  // the top-level fields stay, as totals

    const auto one = body_of(call_users(http::verb::get, "/control/state?user=alice"));
    EXPECT_EQ(one.at("users").as_object().size(), 1u);
    EXPECT_TRUE(one.at("users").as_object().contains("alice"));
    EXPECT_EQ(call_users(http::verb::get, "/control/state?user=nobody").result_int(), 400u);
    EXPECT_EQ(call_users(http::verb::get, "/control/state?everyone=1").result_int(), 400u);
}

TEST_F(control_api_users_test, competing_applies_to_the_named_user_or_to_every_user) {
    ASSERT_EQ(call_users(http::verb::post, "/control/competing", R"({"on":true,"user":"bob"})").result_int(), 200u);
    EXPECT_FALSE(users_model_.competing(0));
    EXPECT_TRUE(users_model_.competing(1));
    auto state = body_of(call_users(http::verb::get, "/control/state"));
    EXPECT_EQ(state.at("competing_session"), true);  // some user meets a competing session
    EXPECT_EQ(state.at("users").at("alice").at("competing_session"), false);
    EXPECT_EQ(state.at("users").at("bob").at("competing_session"), true);
    ASSERT_EQ(call_users(http::verb::post, "/control/competing", R"({"on":true})").result_int(), 200u);
    EXPECT_TRUE(users_model_.competing(0));
    EXPECT_EQ(call_users(http::verb::post, "/control/competing", R"({"on":true,"user":"carol"})").result_int(), 400u);
    EXPECT_EQ(call_users(http::verb::post, "/control/competing", R"({"on":true,"user":7})").result_int(), 400u);
    EXPECT_EQ(call_users(http::verb::post, "/control/competing", R"({"on":true,"who":"bob"})").result_int(), 400u);
}

TEST_F(control_api_users_test, expire_sessions_and_drop_brokerage_take_an_optional_user) {
    for (const char* target : {"/control/expire-sessions", "/control/drop-brokerage"}) {
        EXPECT_EQ(call_users(http::verb::post, target).result_int(), 200u) << target;
        EXPECT_EQ(call_users(http::verb::post, target, "{}").result_int(), 200u) << target;
        EXPECT_EQ(call_users(http::verb::post, target, R"({"user":"bob"})").result_int(), 200u) << target;
        const auto unknown = call_users(http::verb::post, target, R"({"user":"carol"})");
        EXPECT_EQ(unknown.result_int(), 400u) << target;
        EXPECT_NE(body_of(unknown).at("error").as_string().find("unknown user \"carol\""), json::string::npos);
        EXPECT_EQ(call_users(http::verb::post, target, "please").result_int(), 400u) << target;
    }
}

TEST_F(control_api_test, events_take_a_since_parameter) {
    EXPECT_EQ(call(http::verb::get, "/control/events?since=0").result_int(), 200u);
    EXPECT_EQ(call(http::verb::get, "/control/events").result_int(), 200u);
    EXPECT_EQ(call(http::verb::get, "/control/events?since=x").result_int(), 400u);
    EXPECT_EQ(call(http::verb::get, "/control/events?until=1").result_int(), 400u);
}

TEST_F(control_api_test, unknown_endpoint_and_wrong_method_are_refused) {
    EXPECT_EQ(call(http::verb::get, "/control/nothing").result_int(), 404u);
    EXPECT_EQ(call(http::verb::get, "/control/fault").result_int(), 405u);
    EXPECT_EQ(call(http::verb::post, "/control/state").result_int(), 405u);
}

TEST(parse_await_query, reads_path_count_status_and_timeout) {
    const auto q = parse_await_query("path=%2Fv1%2Fapi%2Ftickle&count=3&status=200&timeout_ms=1500");
    ASSERT_TRUE(q.has_value());
    EXPECT_EQ(q->path, "/v1/api/tickle");
    EXPECT_EQ(q->count, 3u);
    EXPECT_EQ(q->status, 200u);
    EXPECT_EQ(q->timeout, std::chrono::milliseconds(1500));
    EXPECT_EQ(parse_await_query("path=/a&status=0")->status, 0u);
}

TEST(parse_await_query, refuses_what_it_cannot_wait_for) {
    EXPECT_FALSE(parse_await_query("count=1").has_value());
    EXPECT_FALSE(parse_await_query("path=/a&count=-1").has_value());
    EXPECT_FALSE(parse_await_query("path=/a&timeout_ms=600001").has_value());
    EXPECT_FALSE(parse_await_query("path=/a&status=42").has_value());
    EXPECT_FALSE(parse_await_query("path=/a&colour=red").has_value());
}

}  // namespace
}  // namespace sessiond::sim
