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

// "ibkr-sessiond/<version>", with " (replica <id>)" when several daemons share the users: what IBKR
// (and ibkr-sim, which checks that no two replicas act on one username at once) tells them apart by.
std::string_view user_agent() noexcept;
// Called once at start, before the first request, by a daemon that is one of several replicas.
void set_replica_agent(std::string_view replica_id);

// A gateway client's request as it goes to IBKR: its method, target (path and query) and body
// unchanged; of the client's headers only Content-Type and Accept (empty: not sent); the daemon's
// Host and User-Agent. Every POST carries Content-Length. The session adds its bearer and cookies
// (ibkr_client::authorize).
http_request forwarded_request(const base_url& endpoint, boost::beast::http::verb method, std::string_view target,
                               std::string body, std::string_view content_type, std::string_view accept);

// "Authorization: Bearer <token>"; the temporary copy is wiped.
void set_bearer(http_request& req, const secret& token);

}  // namespace sessiond
