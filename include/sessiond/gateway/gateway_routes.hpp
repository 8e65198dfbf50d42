#pragma once
// Which requests the gateway forwards to IBKR, which it answers itself, and which it refuses: the
// session's own endpoints stay the daemon's, so that no client can end or take over the session every
// client shares (ibkr-gateway reference, section 5).
//
//   refused (403):   /logout, /iserver/auth/ssodh/init, /iserver/reauthenticate, and anything under
//                    /oauth/, /oauth2/ or /gw/ (IBKR's login endpoints), at the root or under /v1/api;
//   answered here:   /tickle, /iserver/auth/status (the daemon's brokerage status), /sso/validate (its
//                    last validate);
//   WebSocket:       /v1/api/ws;
//   forwarded:       every other path under /v1/api, with its method, query and body unchanged.
//
// A path is forwarded only in a plain form: no percent-encoding, no empty, "." or ".." segment, no
// backslash. IBKR's paths need none of these, and each could make IBKR (or a proxy before it) read a
// refused path where the gateway read another one.
//
// Pure: no I/O.

#include <boost/beast/http/verb.hpp>

#include <span>
#include <string_view>

namespace sessiond {

enum class gateway_action {
    not_gateway,    // not a gateway path: the daemon's own API answers it
    refuse,         // 403: an endpoint of the session itself
    malformed,      // 400: a path the gateway does not forward in that form
    tickle,         // answered from the daemon's state
    auth_status,
    validate,
    websocket,
    forward,
};

struct gateway_route {
    gateway_action action = gateway_action::not_gateway;
    // For metrics and logs: one of a fixed set of labels, never a client's raw path.
    std::string_view endpoint_class = "other";
    // Why a request is refused or malformed, for the client's JSON error.
    std::string_view reason;
};

// `path` is the request target without its query string.
[[nodiscard]] gateway_route route_gateway_request(std::string_view path) noexcept;

// Every endpoint class route_gateway_request() can return (the metrics' label values).
[[nodiscard]] std::span<const std::string_view> gateway_endpoint_classes() noexcept;

}  // namespace sessiond
