#include "sessiond/gateway/gateway_routes.hpp"

#include "sessiond/core/ascii.hpp"

#include <array>

namespace sessiond {

namespace {

constexpr std::string_view api_prefix = "/v1/api";

constexpr std::array<std::string_view, 17> classes{
    "tickle",  "auth_status", "validate", "session", "ws",    "snapshot", "history", "orders", "account",
    "marketdata", "scanner",  "iserver",  "portfolio", "pa",  "fyi",      "trsrv",   "other"};

constexpr std::string_view session_endpoint =
    "this endpoint belongs to the session the daemon keeps for every client: it is never forwarded, so that "
    "no client can end or take over that session";

// IBKR's login endpoints, wherever they are asked for.
bool is_login_endpoint(std::string_view path) {
    for (std::string_view prefix : {"/oauth/", "/oauth2/", "/gw/"})
        if (starts_with_ignoring_case(path, prefix) || equals_ignoring_case(path, prefix.substr(0, prefix.size() - 1)))
            return true;
    return false;
}

// A path IBKR reads the way the gateway does: plain characters, no empty, "." or ".." segment.
bool plain_path(std::string_view path) {
    for (const char c : path) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '/' ||
                        c == '-' || c == '_' || c == '.' || c == '+' || c == ':' || c == ',' || c == '@' || c == '~';
        if (!ok) return false;
    }
    std::string_view rest = path.substr(1);  // after the leading '/'
    while (true) {
        const auto slash = rest.find('/');
        const std::string_view segment = rest.substr(0, slash);
        if (segment.empty() || segment == "." || segment == "..") return false;
        if (slash == std::string_view::npos) return true;
        rest.remove_prefix(slash + 1);
    }
}

bool is(std::string_view path, std::string_view name) { return equals_ignoring_case(path, name); }
bool under(std::string_view path, std::string_view prefix) {
    return is(path, prefix) || (starts_with_ignoring_case(path, prefix) && path.size() > prefix.size() &&
                                path[prefix.size()] == '/');
}

std::string_view class_of(std::string_view p) {
    if (under(p, "/iserver/marketdata/snapshot")) return "snapshot";
    if (under(p, "/iserver/marketdata/history")) return "history";
    if (under(p, "/iserver/marketdata")) return "marketdata";
    if (under(p, "/iserver/account/orders") ||
        (starts_with_ignoring_case(p, "/iserver/account/") &&
         (ends_with_ignoring_case(p, "/orders") || ends_with_ignoring_case(p, "/order") ||
          contains_ignoring_case(p, "/order/"))))
        return "orders";
    if (under(p, "/iserver/account") || under(p, "/iserver/accounts")) return "account";
    if (under(p, "/iserver/scanner")) return "scanner";
    if (under(p, "/iserver")) return "iserver";
    if (under(p, "/portfolio")) return "portfolio";
    if (under(p, "/pa")) return "pa";
    if (under(p, "/fyi")) return "fyi";
    if (under(p, "/trsrv")) return "trsrv";
    return "other";
}

gateway_route refused(std::string_view reason) { return {gateway_action::refuse, "session", reason}; }

}  // namespace

std::span<const std::string_view> gateway_endpoint_classes() noexcept { return classes; }

gateway_route route_gateway_request(std::string_view path) noexcept {
    if (is_login_endpoint(path))
        return refused("IBKR's login endpoints are the daemon's: it logs in for every client");
    if (!under(path, api_prefix)) return {};
    const std::string_view p = path.substr(api_prefix.size());
    if (p.empty() || p == "/") return {gateway_action::malformed, "other", "no endpoint named after /v1/api"};
    if (!plain_path(p))
        return {gateway_action::malformed, "other",
                "the path is not forwarded in this form: percent-encoding, empty, '.' and '..' segments are refused"};
    if (is_login_endpoint(p)) return refused("IBKR's login endpoints are the daemon's: it logs in for every client");
    if (under(p, "/logout") || under(p, "/iserver/auth/ssodh/init") || under(p, "/iserver/reauthenticate"))
        return refused(session_endpoint);
    if (is(p, "/tickle")) return {gateway_action::tickle, "tickle", {}};
    if (is(p, "/iserver/auth/status")) return {gateway_action::auth_status, "auth_status", {}};
    if (is(p, "/sso/validate")) return {gateway_action::validate, "validate", {}};
    if (is(p, "/ws")) return {gateway_action::websocket, "ws", {}};
    return {gateway_action::forward, class_of(p), {}};
}

}  // namespace sessiond
