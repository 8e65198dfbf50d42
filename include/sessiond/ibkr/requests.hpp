#pragma once
// Builds the HTTP request of each step (protocol reference sections 2-4). Pure: the clock, the
// tokens and the key are parameters. Every POST carries Content-Length, even when empty (IBKR
// answers 411 otherwise).

#include "sessiond/core/error.hpp"
#include "sessiond/core/secret.hpp"
#include "sessiond/ibkr/claims.hpp"
#include "sessiond/ibkr/profile.hpp"
#include "sessiond/ibkr/protocol.hpp"
#include "sessiond/net/http_message.hpp"

#include <string>
#include <string_view>

namespace sessiond {

struct request_context {
    const ibkr_profile& profile;
    const base_url& endpoint;
    sys_seconds now;
    const secret* oauth_token = nullptr;  // step sso
    const secret* sso_bearer = nullptr;   // every /v1/api step
    bool compete = true;                  // step init
};

expected<http_request> build_request(step s, const request_context& ctx);

// application/x-www-form-urlencoded encoding of one value.
std::string form_encode(std::string_view value);

// "host:port" as the Host header wants it (IPv6 literals in brackets, default port omitted).
std::string host_header(const base_url& endpoint);

std::string_view user_agent() noexcept;

}  // namespace sessiond
