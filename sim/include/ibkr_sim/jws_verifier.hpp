#pragma once
// IBKR's checks of a compact JWS (RFC 7515) signed with RS256: the client assertion of the token
// endpoint and the signed request body of sso-sessions use the same header, key and signature rules.

#include "ibkr_sim/rsa_public_key.hpp"
#include "ibkr_sim/sim_config.hpp"
#include "ibkr_sim/sim_types.hpp"

#include <boost/json/object.hpp>

#include <optional>
#include <string_view>

namespace sessiond::sim {

struct jws_policy {
    std::string_view key_id;        // the kid the header must carry
    const rsa_public_key* key = nullptr;
    std::string_view reason_prefix; // "assertion" or "sso_jwt": reasons read "assertion_wrong_kid"
    std::string_view what;          // "client assertion": details read "client assertion kid ..."
};

// Three base64url segments, header {"alg":"RS256"[,"typ":"JWT"],"kid":...}, a valid signature and a
// JSON object as payload. Returns the claims. Every failure is a 401 with its own reason.
checked<boost::json::object> verify_compact_jws(std::string_view jws, const jws_policy& policy);

struct time_policy {
    wall_time now;
    sim_duration clock_skew{};                   // how far iat may lie in the future
    std::optional<sim_duration> max_lifetime;    // longest exp - iat accepted, when limited
};

// iat and exp must be NumericDates; iat not beyond now + skew, exp after now, exp - iat within the limit.
std::optional<rejection> check_time_claims(const boost::json::object& claims, const time_policy& policy,
                                           std::string_view reason_prefix, std::string_view what);

// A string claim equal to expected (401 "<prefix>_wrong_<name>" otherwise).
std::optional<rejection> check_string_claim(const boost::json::object& claims, std::string_view name,
                                            std::string_view expected, std::string_view reason_prefix,
                                            std::string_view what);

}  // namespace sessiond::sim
