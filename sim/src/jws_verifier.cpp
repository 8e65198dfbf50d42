#include "ibkr_sim/jws_verifier.hpp"

#include "sessiond/crypto/base64url.hpp"

#include <boost/json/parse.hpp>

namespace sessiond::sim {

namespace {

rejection unauthorized(std::string_view prefix, std::string_view code, std::string detail) {
    return rejection{401, std::string(prefix) + "_" + std::string(code), std::move(detail)};
}

// JWS segments are unpadded base64url (RFC 7515 section 2); base64url_decode alone would accept '='.
std::optional<std::string> decode_segment(std::string_view segment) {
    if (segment.empty() || segment.find('=') != std::string_view::npos) return std::nullopt;
    auto bytes = base64url_decode(segment);
    if (!bytes) return std::nullopt;
    return std::move(*bytes);
}

std::optional<boost::json::object> decode_json_object(std::string_view segment) {
    const auto bytes = decode_segment(segment);
    if (!bytes) return std::nullopt;
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(*bytes, ec);
    if (ec || !v.is_object()) return std::nullopt;
    return std::move(v.as_object());
}

bool is_string_equal(const boost::json::value* v, std::string_view expected) {
    return v != nullptr && v->is_string() && v->get_string() == expected;
}

// A NumericDate (RFC 7519): seconds since the epoch, integer or fractional.
std::optional<double> numeric_date(const boost::json::object& claims, std::string_view name) {
    const boost::json::value* v = claims.if_contains(name);
    if (v == nullptr) return std::nullopt;
    if (v->is_int64()) return static_cast<double>(v->get_int64());
    if (v->is_uint64()) return static_cast<double>(v->get_uint64());
    if (v->is_double()) return v->get_double();
    return std::nullopt;
}

double seconds_of(sim_duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

checked<boost::json::object> verify_compact_jws(std::string_view jws, const jws_policy& policy) {
    const std::string what(policy.what);
    const auto first = jws.find('.');
    const auto second = first == std::string_view::npos ? first : jws.find('.', first + 1);
    if (second == std::string_view::npos || jws.find('.', second + 1) != std::string_view::npos)
        return unauthorized(policy.reason_prefix, "not_three_segments",
                            what + " is not a compact JWS (three base64url segments separated by '.')");
    const std::string_view header_segment = jws.substr(0, first);
    const std::string_view payload_segment = jws.substr(first + 1, second - first - 1);
    const std::string_view signature_segment = jws.substr(second + 1);

    const auto header = decode_json_object(header_segment);
    if (!header) return unauthorized(policy.reason_prefix, "bad_header", what + " header is not base64url JSON object");
    if (!is_string_equal(header->if_contains("alg"), "RS256"))
        return unauthorized(policy.reason_prefix, "wrong_alg", what + " header alg must be RS256");
    if (const auto* typ = header->if_contains("typ"); typ != nullptr && !is_string_equal(typ, "JWT"))
        return unauthorized(policy.reason_prefix, "wrong_typ", what + " header typ must be JWT when present");
    if (header->contains("crit"))
        return unauthorized(policy.reason_prefix, "bad_header", what + " header crit names extensions IBKR does not support");
    if (!is_string_equal(header->if_contains("kid"), policy.key_id))
        return unauthorized(policy.reason_prefix, "wrong_kid", what + " header kid does not name the client's registered key");

    const auto signature = decode_segment(signature_segment);
    const std::string_view signing_input = jws.substr(0, second);
    if (!signature || policy.key == nullptr || !policy.key->verify_rs256(signing_input, *signature))
        return unauthorized(policy.reason_prefix, "bad_signature",
                            what + " signature does not verify with the client's registered public key");

    auto claims = decode_json_object(payload_segment);
    if (!claims) return unauthorized(policy.reason_prefix, "bad_claims", what + " payload is not a base64url JSON object");
    return std::move(*claims);
}

std::optional<rejection> check_time_claims(const boost::json::object& claims, const time_policy& policy,
                                           std::string_view reason_prefix, std::string_view what) {
    const std::string w(what);
    const auto iat = numeric_date(claims, "iat");
    if (!iat) return unauthorized(reason_prefix, "missing_iat", w + " has no numeric iat claim");
    const auto exp = numeric_date(claims, "exp");
    if (!exp) return unauthorized(reason_prefix, "missing_exp", w + " has no numeric exp claim");
    const double now = std::chrono::duration<double>(policy.now.time_since_epoch()).count();
    if (*iat > now + seconds_of(policy.clock_skew))
        return unauthorized(reason_prefix, "iat_in_future", w + " iat lies in the future beyond the allowed clock skew");
    if (*exp <= now) return unauthorized(reason_prefix, "expired", w + " has expired (exp is not after now)");
    if (policy.max_lifetime && *exp - *iat > seconds_of(*policy.max_lifetime))
        return unauthorized(reason_prefix, "lifetime_too_long", w + " lives too long (exp - iat exceeds the maximum)");
    return std::nullopt;
}

std::optional<rejection> check_string_claim(const boost::json::object& claims, std::string_view name,
                                            std::string_view expected, std::string_view reason_prefix,
                                            std::string_view what) {
    if (is_string_equal(claims.if_contains(name), expected)) return std::nullopt;
    return unauthorized(reason_prefix, "wrong_" + std::string(name),
                        std::string(what) + " claim " + std::string(name) + " is missing or wrong");
}

}  // namespace sessiond::sim
