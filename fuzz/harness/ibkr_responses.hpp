#pragma once
// Every parser of an IBKR response (include/sessiond/ibkr/responses.hpp). The first byte picks the
// parser and the rest is the body; any other first byte runs every parser on the whole input:
//   o parse_oauth_token     g parse_sso_grant       v parse_sso_validation
//   b parse_brokerage_status                        t parse_tickle
//   a parse_accounts        e describe_error_body   p printable_remote_text
//   r parse_retry_after (the header value)
// Checked: no exception; every value is within the bounds the parsers promise (expiries, Retry-After,
// the account count); all remote text is printable, bounded and redacted.

#include "check.hpp"

#include "sessiond/ibkr/responses.hpp"

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

namespace sessiond::fuzz {

inline std::string check_status(const brokerage_status& s) {
    for (const auto& [what, text] : {std::pair{"message", &s.message}, std::pair{"fail", &s.fail},
                                     std::pair{"serverName", &s.server_name}, std::pair{"serverVersion", &s.server_version}})
        if (auto bad = check_remote_text(what, *text); !bad.empty()) return bad;
    if (s.healthy() != (s.authenticated && s.connected && !s.competing)) return "healthy() disagrees with its flags";
    return {};
}

inline bool within_int32_millis(std::chrono::milliseconds ms) {
    return ms.count() >= 0 && ms.count() <= std::numeric_limits<std::int32_t>::max();
}

inline std::string oauth_token_body(std::string_view body) {
    const auto t = parse_oauth_token(body);
    if (!t) return {};
    if (t->access_token.empty()) return "oauth token without access_token";
    if (t->expires_in < std::chrono::seconds(0) || t->expires_in > std::chrono::seconds(366 * 86400))
        return "oauth expires_in out of [0, 366 days]";
    return {};
}

inline std::string sso_grant_body(std::string_view body) {
    const auto g = parse_sso_grant(body);
    if (g && g->access_token.empty()) return "sso grant without access_token";
    return {};
}

inline std::string sso_validation_body(std::string_view body) {
    const auto v = parse_sso_validation(body);
    if (v && v->expires && !within_int32_millis(*v->expires)) return "validate EXPIRES out of int32 milliseconds";
    return {};
}

inline std::string brokerage_status_body(std::string_view body) {
    const auto s = parse_brokerage_status(body);
    return s ? check_status(*s) : std::string{};
}

inline std::string tickle_body(std::string_view body) {
    const auto t = parse_tickle(body);
    if (!t) return {};
    if (!t->not_processed.empty()) {
        if (t->brokerage || t->sso_expires) return "tickle both not processed and answered";
        return check_remote_text("tickle error", t->not_processed);
    }
    if (!t->brokerage && !t->sso_expires) return "tickle parsed without authStatus or ssoExpires";
    if (t->sso_expires && !within_int32_millis(*t->sso_expires)) return "ssoExpires out of int32 milliseconds";
    return t->brokerage ? check_status(*t->brokerage) : std::string{};
}

inline std::string accounts_body(std::string_view body) {
    const auto a = parse_accounts(body);
    if (!a) return {};
    if (a->accounts.size() > 10000) return "more than 10000 accounts";
    for (const std::string& account : a->accounts)
        if (auto bad = check_remote_text("account", account); !bad.empty()) return bad;
    return check_remote_text("selectedAccount", a->selected);
}

inline std::string error_body(std::string_view body) { return check_remote_text("describe_error_body", describe_error_body(body)); }

inline std::string remote_text(std::string_view raw) { return check_remote_text("printable_remote_text", printable_remote_text(raw)); }

inline std::string retry_after_value(std::string_view value) {
    // A fixed "now" (Sun, 06 Nov 1994 08:49:37 GMT) keeps every run of an input the same.
    const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(784111777));
    const auto delay = parse_retry_after(value, now);
    if (delay && (*delay < std::chrono::seconds(0) || *delay > std::chrono::seconds(86400)))
        return "Retry-After out of [0, 86400] s";
    return {};
}

inline std::string ibkr_responses(std::string_view input) {
    using parser = std::string (*)(std::string_view);
    const auto pick = [](char c) -> parser {
        switch (c) {
            case 'o': return oauth_token_body;
            case 'g': return sso_grant_body;
            case 'v': return sso_validation_body;
            case 'b': return brokerage_status_body;
            case 't': return tickle_body;
            case 'a': return accounts_body;
            case 'e': return error_body;
            case 'p': return remote_text;
            case 'r': return retry_after_value;
            default: return nullptr;
        }
    };
    if (!input.empty())
        if (const parser one = pick(input[0])) return one(input.substr(1));
    for (const parser each : {oauth_token_body, sso_grant_body, sso_validation_body, brokerage_status_body, tickle_body,
                              accounts_body, error_body, remote_text, retry_after_value})
        if (auto bad = each(input); !bad.empty()) return bad;
    return {};
}

}  // namespace sessiond::fuzz
