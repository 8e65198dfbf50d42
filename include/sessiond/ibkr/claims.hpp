#pragma once
// The JWT claims of the two signed assertions, exactly as IBKR's own samples build them
// (protocol reference 2.2 and 3.2). Pure: the clock is a parameter.

#include <boost/json/object.hpp>

#include <chrono>
#include <string_view>

namespace sessiond {

using sys_seconds = std::chrono::time_point<std::chrono::system_clock, std::chrono::seconds>;

// Step 1 client assertion: iss = sub = client id, aud = "/token" (the literal path),
// iat back-dated 10 s for clock skew, exp 20 s after now. No jti, no scope.
boost::json::object client_assertion_claims(std::string_view client_id, sys_seconds now);

// Step 2 SSO request: ip, credential, iss = client id, iat = now, exp = now + 24 h. No aud, no sub.
boost::json::object sso_session_claims(std::string_view client_id, std::string_view credential,
                                       std::string_view ip, sys_seconds now);

inline constexpr std::chrono::seconds assertion_backdate{10};
inline constexpr std::chrono::seconds assertion_lifetime{20};
inline constexpr std::chrono::seconds sso_request_lifetime{86400};

}  // namespace sessiond
