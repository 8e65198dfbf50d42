#pragma once
// The JWT claims of the two signed assertions, exactly as IBKR's own samples build them
// (protocol reference 2.2 and 3.2). Pure: the clock is a parameter.

#include <boost/json/object.hpp>

#include <chrono>
#include <optional>
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

// When a login's signed request goes on the wire. Its turn (the daemon-wide login rate,
// login_slots::claim_send) is claimed once, right after the first signature, and kept: a token
// request whose assertion would be older than half its life by then is signed again
// `resign_lead` before its turn (the signature is made on a worker that may be busy), never sent
// early and never put at the back of the queue again. Claiming anew after each new signature
// starved every login once more than ten seconds of them were queued (200 at 0.05 s apart, 20 at
// the default 0.5 s): each new claim landed behind the others, and each wait again outlived the
// assertion.
inline constexpr std::chrono::seconds resign_lead{2};
struct login_send_plan {
    std::optional<std::chrono::system_clock::time_point> sign_again_at;  // token requests only
    std::chrono::system_clock::time_point send_at;
};
login_send_plan plan_login_send(bool token_request, std::chrono::system_clock::time_point signed_at,
                                std::chrono::system_clock::time_point turn);

}  // namespace sessiond
