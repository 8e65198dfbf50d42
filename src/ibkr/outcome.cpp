#include "sessiond/ibkr/outcome.hpp"

#include "sessiond/core/ascii.hpp"

#include <boost/beast/http/field.hpp>

namespace sessiond {

namespace http = boost::beast::http;

std::string_view to_string(failure f) noexcept {
    switch (f) {
        case failure::none: return "none";
        case failure::unauthorized: return "unauthorized";
        case failure::forbidden: return "forbidden";
        case failure::rejected: return "rejected";
        case failure::rate_limited: return "rate_limited";
        case failure::server_error: return "server_error";
        case failure::timeout: return "timeout";
        case failure::transport: return "transport";
        case failure::tls: return "tls";
        case failure::bad_response: return "bad_response";
        case failure::not_processed: return "not_processed";
        case failure::cancelled: return "cancelled";
    }
    return "unknown";
}

namespace {

failure classify_status(unsigned status) {
    if (status == 401) return failure::unauthorized;
    if (status == 403) return failure::forbidden;
    if (status == 429) return failure::rate_limited;
    if (status >= 500) return failure::server_error;
    return failure::rejected;
}

// JSON bodies only: an HTML page with a 200 is a proxy or captive portal, not IBKR.
bool is_json_type(std::string_view content_type) {
    const std::string_view type = media_type(content_type);
    return equals_ignoring_case(type, "application/json") || ends_with_ignoring_case(type, "+json");
}

template <class T>
bool take(step_outcome& out, expected<T>&& parsed, std::optional<T>& slot) {
    if (!parsed) {
        out.kind = failure::bad_response;
        out.detail = parsed.error().message;
        return false;
    }
    slot = std::move(*parsed);
    return true;
}

}  // namespace

step_outcome failed_outcome(step s, failure kind, std::string detail, int http_status) {
    step_outcome out;
    out.which = s;
    out.kind = kind;
    out.detail = std::move(detail);
    out.http_status = http_status;
    return out;
}

failure to_failure(transport_error e) noexcept {
    switch (e) {
        case transport_error::timeout: return failure::timeout;
        case transport_error::transport: return failure::transport;
        case transport_error::tls: return failure::tls;
        case transport_error::bad_response: return failure::bad_response;
        case transport_error::cancelled: return failure::cancelled;
    }
    return failure::transport;
}

step_outcome interpret_response(step s, const http_response& res, std::chrono::system_clock::time_point now) {
    step_outcome out;
    out.which = s;
    out.http_status = static_cast<int>(res.result_int());
    const std::string_view body = res.body();

    if (out.http_status < 200 || out.http_status >= 300) {
        out.kind = classify_status(res.result_int());
        out.detail = describe_error_body(body);
        if (out.http_status >= 300 && out.http_status < 400) out.detail = "unexpected redirect";
        if (const auto it = res.find(http::field::retry_after); it != res.end())
            out.retry_after = parse_retry_after(it->value(), now);
        return out;
    }
    // Logout's body is not needed: a 2xx ends the session whatever it says.
    if (s == step::logout) return out;

    const auto type = res.find(http::field::content_type);
    if (type == res.end() || !is_json_type(type->value())) {
        out.kind = failure::bad_response;
        out.detail = type == res.end() ? "response has no Content-Type (expected JSON)"
                                       : "unexpected Content-Type \"" + printable_remote_text(type->value().substr(0, 60)) +
                                             "\" (expected JSON)";
        return out;
    }
    switch (s) {
        case step::oauth: take(out, parse_oauth_token(body), out.token); break;
        case step::sso:
            if (take(out, parse_sso_grant(body), out.sso) && !out.sso->active) {
                // The safe reading of "active": false: a session IBKR does not consider active is not used.
                out.sso.reset();
                out.kind = failure::rejected;
                out.detail = "IBKR created the SSO session as not active";
            }
            break;
        case step::validate: take(out, parse_sso_validation(body), out.validation); break;
        case step::init: take(out, parse_brokerage_status(body), out.brokerage); break;
        case step::accounts: take(out, parse_accounts(body), out.accounts); break;
        case step::tickle: take(out, parse_tickle(body), out.tickle); break;
        case step::logout: break;
    }
    return out;
}

std::string_view troubleshooting_hint(step s, failure kind, int http_status) noexcept {
    switch (s) {
        case step::oauth:
            if (kind == failure::unauthorized || kind == failure::rejected || kind == failure::forbidden)
                return "OAuth failure: verify IBKR_CLIENT_ID, IBKR_CLIENT_KEY_ID and the private key, and that this "
                       "host's clock is right (NTP)";
            break;
        case step::sso:
            if (kind == failure::forbidden || kind == failure::unauthorized)
                return "SSO failure: verify IBKR_CREDENTIAL, and that IBKR_ALLOWED_IP is this server's public IP and "
                       "is whitelisted in the IBKR Client Portal";
            if (kind == failure::rejected && http_status == 400)
                return "SSO request refused: check IBKR_CREDENTIAL and IBKR_ALLOWED_IP";
            break;
        default: break;
    }
    if (kind == failure::tls)
        return "TLS failure: the server's certificate did not verify; check IBKR_BASE_URL and IBKR_CA_FILE";
    if (kind == failure::rejected && http_status == 404) return "endpoint not found: check IBKR_BASE_URL";
    return {};
}

std::string public_failure(step s, failure kind, int http_status) {
    std::string out = http_status != 0 ? "HTTP " + std::to_string(http_status) + " (" + std::string(to_string(kind)) + ")"
                                       : std::string(to_string(kind));
    if (const auto hint = troubleshooting_hint(s, kind, http_status); !hint.empty()) out += "; " + std::string(hint);
    return out;
}

}  // namespace sessiond
