#include "sessiond/gateway/gateway_routes.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace sessiond {
namespace {

gateway_action action_of(std::string_view path) { return route_gateway_request(path).action; }

TEST(gateway_routes, the_sessions_own_endpoints_are_refused_whatever_their_case) {
    for (std::string_view p : {"/v1/api/logout", "/v1/api/LOGOUT", "/v1/api/iserver/auth/ssodh/init",
                               "/v1/api/iserver/reauthenticate", "/v1/api/oauth2/api/v1/token", "/oauth2/api/v1/token",
                               "/gw/api/v1/sso-sessions", "/oauth/request_token", "/v1/api/gw/api/v1/sso-sessions",
                               "/oauth2", "/v1/api/logout/now"}) {
        const gateway_route r = route_gateway_request(p);
        EXPECT_EQ(r.action, gateway_action::refuse) << p;
        EXPECT_EQ(r.endpoint_class, "session") << p;
        EXPECT_FALSE(r.reason.empty()) << p;
    }
}

TEST(gateway_routes, a_path_that_could_be_read_as_another_is_not_forwarded) {
    for (std::string_view p : {"/v1/api/iserver/../logout", "/v1/api/./logout", "/v1/api//logout",
                               "/v1/api/%6cogout", "/v1/api/iserver/accounts%2F..%2Flogout", "/v1/api/a\\b",
                               "/v1/api/", "/v1/api", "/v1/api/iserver/ accounts"})
        EXPECT_EQ(action_of(p), gateway_action::malformed) << p;
}

TEST(gateway_routes, tickle_auth_status_and_validate_are_answered_by_the_daemon) {
    EXPECT_EQ(action_of("/v1/api/tickle"), gateway_action::tickle);
    EXPECT_EQ(action_of("/v1/api/iserver/auth/status"), gateway_action::auth_status);
    EXPECT_EQ(action_of("/v1/api/sso/validate"), gateway_action::validate);
    EXPECT_EQ(action_of("/v1/api/ws"), gateway_action::websocket);
}

TEST(gateway_routes, everything_else_under_v1_api_is_forwarded_and_nothing_outside_it) {
    EXPECT_EQ(action_of("/v1/api/iserver/accounts"), gateway_action::forward);
    EXPECT_EQ(action_of("/v1/api/iserver/account/DU1234567/orders"), gateway_action::forward);
    EXPECT_EQ(action_of("/v1/api/portfolio/accounts"), gateway_action::forward);
    EXPECT_EQ(action_of("/v1/apix/tickle"), gateway_action::not_gateway);
    EXPECT_EQ(action_of("/api/ibkr/status"), gateway_action::not_gateway);
    EXPECT_EQ(action_of("/livez"), gateway_action::not_gateway);
    EXPECT_EQ(action_of("/"), gateway_action::not_gateway);
}

TEST(gateway_routes, endpoint_classes_come_from_a_fixed_set_never_from_the_client) {
    const auto classes = gateway_endpoint_classes();
    const auto known = [&](std::string_view c) { return std::find(classes.begin(), classes.end(), c) != classes.end(); };
    EXPECT_EQ(route_gateway_request("/v1/api/iserver/marketdata/snapshot").endpoint_class, "snapshot");
    EXPECT_EQ(route_gateway_request("/v1/api/iserver/marketdata/history").endpoint_class, "history");
    EXPECT_EQ(route_gateway_request("/v1/api/iserver/account/DU1/orders").endpoint_class, "orders");
    EXPECT_EQ(route_gateway_request("/v1/api/iserver/account/orders").endpoint_class, "orders");
    EXPECT_EQ(route_gateway_request("/v1/api/portfolio/DU1/positions/0").endpoint_class, "portfolio");
    EXPECT_EQ(route_gateway_request("/v1/api/some-random-thing-123").endpoint_class, "other");
    for (std::string_view p : {"/v1/api/iserver/accounts", "/v1/api/x/y/z", "/v1/api/fyi/unreadnumber", "/v1/api/pa/summary",
                               "/v1/api/trsrv/secdef", "/v1/api/iserver/scanner/run", "/v1/api/logout", "/v1/api/..",
                               "/v1/api/tickle", "/v1/api/ws"})
        EXPECT_TRUE(known(route_gateway_request(p).endpoint_class)) << p;
}

}  // namespace
}  // namespace sessiond
