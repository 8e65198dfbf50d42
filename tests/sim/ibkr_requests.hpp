#pragma once
// What a correct IBKR client sends, built with the project's own JWS signer, so that each test can
// break exactly one thing.

#include "ibkr_sim/http_types.hpp"
#include "support/http_client.hpp"
#include "support/test_keys.hpp"

#include <boost/json/object.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sessiond::sim::requests {

struct client_identity {
    std::string client_id = "sim-client";
    std::string key_id = "main";
    std::string credential = "simuser";
    std::string ip = "127.0.0.1";
    std::string scope = "sso-sessions.write";
};

std::int64_t epoch_seconds(std::chrono::system_clock::time_point t);

// IBKR sample claims: iss = sub = client id, aud "/token", iat now - 10, exp now + 20.
boost::json::object assertion_claims(const client_identity& id, std::chrono::system_clock::time_point now);
// SSO request claims: ip, credential, iss, iat now, exp now + 86400.
boost::json::object sso_claims(const client_identity& id, std::chrono::system_clock::time_point now);

// A compact RS256 JWS with the standard header {"alg":"RS256","typ":"JWT","kid":key_id}.
std::string sign(const boost::json::object& claims, std::string_view key_id,
                 const sessiond::testing::rsa_test_key& key = sessiond::testing::shared_rsa_key());
// The same with any header, to test header checks.
std::string sign_with_header(const boost::json::object& header, const boost::json::object& claims,
                             const sessiond::testing::rsa_test_key& key = sessiond::testing::shared_rsa_key());

using form_fields = std::vector<std::pair<std::string, std::string>>;
// grant_type, client_assertion_type, client_assertion, scope.
form_fields token_form(const client_identity& id, std::string assertion);
// application/x-www-form-urlencoded, every value percent-encoded.
std::string form_body(const form_fields& fields);
// Replaces (or, with an empty value and remove = true, removes) a field.
form_fields with_field(form_fields fields, std::string_view name, std::string value, bool remove = false);

// ---- in memory (a request handed to ibkr_model::handle) ----

// A POST with Content-Length set (IBKR insists on it), the Content-Type and bearer when not empty.
http_request post(std::string_view path, std::string body, std::string_view content_type, std::string_view bearer = {});
// A GET, with the bearer when not empty.
http_request get(std::string_view path, std::string_view bearer = {});

// ---- over a real connection (an http_client to the simulator) ----

// Authorization: Bearer <bearer>, and the Content-Type if given.
sessiond::testing::http_request_options with_bearer(std::string_view bearer,
                                                    std::optional<std::string> content_type = std::nullopt);
// Steps 1 and 2 as the daemon performs them, signed with shared_rsa_key(); returns the SSO bearer
// (empty, with a test failure, if refused).
std::string open_sso_session(sessiond::testing::http_client& client, const client_identity& id = {});
// ssodh/init and /iserver/accounts: the brokerage session is ready for /iserver calls.
void establish_brokerage(sessiond::testing::http_client& client, std::string_view bearer);
// The "session" value /tickle returns.
std::string tickle_session(sessiond::testing::http_client& client, std::string_view bearer);

}  // namespace sessiond::sim::requests
