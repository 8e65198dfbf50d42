#pragma once
// The IBKR Web API calls the session makes, in the order of the guide's connection flow
// (OAuth -> SSO -> validation -> initialisation), plus the keep-alive and logout.

#include <boost/beast/http/verb.hpp>

#include <array>
#include <cstdint>
#include <string_view>

namespace sessiond {

enum class step : std::uint8_t {
    oauth,     // POST /oauth2/api/v1/token                 -> OAuth access token
    sso,       // POST /gw/api/v1/sso-sessions              -> SSO bearer for everything below
    validate,  // GET  /v1/api/sso/validate
    init,      // POST /v1/api/iserver/auth/ssodh/init      -> brokerage session
    accounts,  // GET  /v1/api/iserver/accounts             (primes /iserver, lists the accounts)
    tickle,    // POST /v1/api/tickle                       (keep-alive)
    logout,    // POST /v1/api/logout
};

inline constexpr std::array all_steps{step::oauth, step::sso,    step::validate, step::init,
                                      step::accounts, step::tickle, step::logout};

struct endpoint {
    boost::beast::http::verb method;
    std::string_view path;
};

constexpr endpoint endpoint_of(step s) noexcept {
    using boost::beast::http::verb;
    switch (s) {
        case step::oauth: return {verb::post, "/oauth2/api/v1/token"};
        case step::sso: return {verb::post, "/gw/api/v1/sso-sessions"};
        case step::validate: return {verb::get, "/v1/api/sso/validate"};
        case step::init: return {verb::post, "/v1/api/iserver/auth/ssodh/init"};
        case step::accounts: return {verb::get, "/v1/api/iserver/accounts"};
        case step::tickle: return {verb::post, "/v1/api/tickle"};
        case step::logout: return {verb::post, "/v1/api/logout"};
    }
    return {verb::get, ""};
}

constexpr std::string_view to_string(step s) noexcept {
    switch (s) {
        case step::oauth: return "oauth";
        case step::sso: return "sso";
        case step::validate: return "validate";
        case step::init: return "init";
        case step::accounts: return "accounts";
        case step::tickle: return "tickle";
        case step::logout: return "logout";
    }
    return "unknown";
}

// The user's guide's four steps (its diagnostics and Test Connection). Its init is the daemon's init
// and then accounts: the brokerage session is initialised once the accounts are listed.
inline constexpr std::array guide_steps{step::oauth, step::sso, step::validate, step::init};
constexpr step guide_step_of(step s) noexcept { return s == step::accounts ? step::init : s; }

// Steps 1 and 2 make a new login; the others ride on the SSO bearer it produced.
constexpr bool is_login_step(step s) noexcept { return s == step::oauth || s == step::sso; }

}  // namespace sessiond
