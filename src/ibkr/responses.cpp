#include "sessiond/ibkr/responses.hpp"

#include "sessiond/core/ascii.hpp"
#include "sessiond/core/json.hpp"
#include "sessiond/log/redact.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <ctime>
#include <limits>

namespace sessiond {

namespace {

constexpr std::size_t max_description = 200;
// Far longer than any secret, so one that starts in the visible part is redacted whole, and short
// enough to keep redaction of a hostile megabyte body cheap.
constexpr std::size_t max_scanned = 64 * 1024;

error missing(std::string_view field) { return make_error("response has no usable \"" + std::string(field) + "\""); }

// The spec types ssoExpires as int32; anything larger is nonsense, and added to a time_point it
// would overflow.
std::optional<std::chrono::milliseconds> millis(const boost::json::object& o, std::string_view key) {
    const auto v = json_int(o, key);
    if (!v || *v < 0 || *v > std::numeric_limits<std::int32_t>::max()) return std::nullopt;
    return std::chrono::milliseconds(*v);
}

// Remote text ends up in outcome details, which the status page shows without the log sink's
// redaction: redact before truncating, so that the cut cannot leave part of a secret unrecognised.
// Redacted again once unprintable bytes are blanks: "Bearer\x1ftoken" only then reads "Bearer token".
std::string bounded_text(std::string_view raw) {
    std::string s = redact(raw.substr(0, max_scanned));
    for (char& c : s)
        if (std::isprint(static_cast<unsigned char>(c)) == 0) c = ' ';
    s = redact(s);
    if (s.size() > max_description) {
        s.resize(max_description);
        s += "...";
    }
    return s;
}

brokerage_status read_auth_status(const boost::json::object& o) {
    brokerage_status s;
    s.authenticated = json_bool(o, "authenticated").value_or(false);
    s.connected = json_bool(o, "connected").value_or(false);
    s.competing = json_bool(o, "competing").value_or(false);
    s.established = json_bool(o, "established");
    s.message = bounded_text(json_string(o, "message").value_or(""));
    s.fail = bounded_text(json_string(o, "fail").value_or(""));
    if (const auto* info = json_object(o, "serverInfo")) {
        s.server_name = bounded_text(json_string(*info, "serverName").value_or(""));
        s.server_version = bounded_text(json_string(*info, "serverVersion").value_or(""));
    }
    return s;
}

}  // namespace

expected<oauth_token> parse_oauth_token(std::string_view body) {
    auto o = parse_json_object(body);
    if (!o) return o.error();
    const auto token = json_string(*o, "access_token");
    if (!token || token->empty()) return missing("access_token");
    if (const auto type = json_string(*o, "token_type"); type && !equals_ignoring_case(*type, "bearer"))
        return make_error("token_type is not Bearer");
    oauth_token out;
    out.access_token = secret(*token);
    // Bounded to a year: nothing legitimate is longer, and the value may end up on a clock.
    out.expires_in = std::chrono::seconds(std::clamp<std::int64_t>(json_int(*o, "expires_in").value_or(0), 0, 366 * 86400));
    return out;
}

expected<sso_grant> parse_sso_grant(std::string_view body) {
    auto o = parse_json_object(body);
    if (!o) return o.error();
    const auto token = json_string(*o, "access_token");
    if (!token || token->empty()) return missing("access_token");
    sso_grant out;
    out.access_token = secret(*token);
    out.active = json_bool(*o, "active").value_or(true);
    return out;
}

expected<sso_validation> parse_sso_validation(std::string_view body) {
    auto o = parse_json_object(body);
    if (!o) return o.error();
    const auto result = json_bool(*o, "RESULT");
    if (!result) return missing("RESULT");
    sso_validation out;
    out.result = *result;
    auto login_type = json_int(*o, "LOGIN_TYPE");
    if (!login_type) login_type = json_int(*o, "loginType");
    if (login_type == 1) out.login_type = ibkr_environment::live;
    if (login_type == 2) out.login_type = ibkr_environment::paper;
    out.expires = millis(*o, "EXPIRES");
    return out;
}

expected<brokerage_status> parse_brokerage_status(std::string_view body) {
    auto o = parse_json_object(body);
    if (!o) return o.error();
    if (!json_bool(*o, "authenticated") && !json_bool(*o, "connected")) return missing("authenticated");
    return read_auth_status(*o);
}

expected<tickle_report> parse_tickle(std::string_view body) {
    auto o = parse_json_object(body);
    if (!o) return o.error();
    tickle_report out;
    if (const auto err = json_string(*o, "error")) {
        out.not_processed = bounded_text(*err);
        if (out.not_processed.empty()) out.not_processed = "(no reason given)";
        return out;
    }
    out.sso_expires = millis(*o, "ssoExpires");
    if (const auto session = json_string(*o, "session"); session && session->size() <= 256) out.session = secret(*session);
    if (const auto* iserver = json_object(*o, "iserver"))
        if (const auto* auth = json_object(*iserver, "authStatus")) out.brokerage = read_auth_status(*auth);
    if (!out.sso_expires && !out.brokerage) return missing("iserver.authStatus");
    return out;
}

expected<account_list> parse_accounts(std::string_view body) {
    auto o = parse_json_object(body);
    if (!o) return o.error();
    const auto* list = json_array(*o, "accounts");
    if (list == nullptr) return missing("accounts");
    account_list out;
    for (const auto& v : *list) {
        if (const auto* s = v.if_string()) out.accounts.emplace_back(bounded_text(std::string_view(s->data(), s->size())));
        if (out.accounts.size() >= 10000) break;
    }
    out.selected = bounded_text(json_string(*o, "selectedAccount").value_or(""));
    if (const auto paper = json_bool(*o, "isPaper")) out.login_type = *paper ? ibkr_environment::paper : ibkr_environment::live;
    return out;
}

std::string describe_error_body(std::string_view body) {
    std::string text;
    if (auto o = parse_json_object(body)) {
        const auto title = json_string(*o, "title");
        const auto detail = json_string(*o, "detail");
        const auto err = json_string(*o, "error");
        const auto desc = json_string(*o, "error_description");
        const auto msg = json_string(*o, "message");
        if (title || detail) {
            text = std::string(title.value_or(""));
            if (detail && !detail->empty()) text += (text.empty() ? "" : ": ") + std::string(*detail);
        } else if (err) {
            text = std::string(*err);
            if (desc) text += ": " + std::string(*desc);
        } else if (msg) {
            text = std::string(*msg);
        }
    }
    if (text.empty()) text = std::string(body.substr(0, max_scanned));
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
    return bounded_text(text);
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value, std::chrono::system_clock::time_point now) {
    constexpr std::int64_t cap = 86400;
    while (!value.empty() && std::isspace(static_cast<unsigned char>(value.front()))) value.remove_prefix(1);
    while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back()))) value.remove_suffix(1);
    if (value.empty()) return std::nullopt;
    if (std::all_of(value.begin(), value.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; })) {
        if (value.size() > 9) return std::chrono::seconds(cap);
        std::int64_t n = 0;
        for (char c : value) n = n * 10 + (c - '0');
        return std::chrono::seconds(std::min(n, cap));
    }
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    std::tm tm{};
    const std::string text(value);
    const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (end == nullptr || *end != '\0') return std::nullopt;
    // In seconds throughout: %Y reads years 0 to 9999, and such a date as a system_clock time point
    // (nanoseconds) would overflow.
    const std::int64_t at = timegm(&tm);
    const std::int64_t now_s = std::chrono::floor<std::chrono::seconds>(now.time_since_epoch()).count();
    return std::chrono::seconds(std::clamp<std::int64_t>(at - now_s, 0, cap));
}

std::string printable_remote_text(std::string_view raw) { return bounded_text(raw); }

}  // namespace sessiond
