#include "sessiond/ibkr/requests.hpp"

#include "sessiond/crypto/jws.hpp"

#include <boost/beast/http/field.hpp>
#include <boost/json/serialize.hpp>

#include <cctype>

namespace sessiond {

namespace http = boost::beast::http;

namespace {

constexpr std::string_view assertion_type = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

http_request base_request(step s, const request_context& ctx) {
    const endpoint ep = endpoint_of(s);
    http_request req{ep.method, ep.path, 11};
    req.set(http::field::host, host_header(ctx.endpoint));
    req.set(http::field::user_agent, user_agent());
    req.set(http::field::accept, "application/json");
    req.set(http::field::connection, "keep-alive");
    return req;
}

expected<void> sign_into_body(http_request& req, const request_context& ctx, const boost::json::object& claims,
                              bool form) {
    if (!ctx.profile.private_key) return make_error("no private key loaded");
    auto jws = sign_jws(*ctx.profile.private_key, ctx.profile.client_key_id, claims);
    if (!jws) return jws.error();
    if (form) {
        std::string body = "grant_type=client_credentials&client_assertion_type=" + form_encode(assertion_type) +
                           "&client_assertion=" + form_encode(jws->reveal()) + "&scope=" + form_encode(ctx.profile.scope);
        req.body() = std::move(body);
        req.set(http::field::content_type, "application/x-www-form-urlencoded");
    } else {
        // The SSO endpoint's gateway policy is SIGNED_JWT: the raw compact JWS is the body.
        req.body() = std::string(jws->reveal());
        req.set(http::field::content_type, "application/jwt");
    }
    return {};
}

}  // namespace

namespace {
// Set once at start, before any request is built (set_replica_agent): read-only afterwards.
std::string& agent() {
    static std::string value = "ibkr-sessiond/" SESSIOND_VERSION;
    return value;
}
}  // namespace

std::string_view user_agent() noexcept { return agent(); }

void set_replica_agent(std::string_view replica_id) {
    agent() = "ibkr-sessiond/" SESSIOND_VERSION " (replica " + std::string(replica_id) + ")";
}

void set_bearer(http_request& req, const secret& token) {
    std::string value = "Bearer ";
    value += token.reveal();
    req.set(http::field::authorization, value);
    wipe(value);
}

http_request forwarded_request(const base_url& endpoint, http::verb method, std::string_view target, std::string body,
                               std::string_view content_type, std::string_view accept) {
    http_request req{method, target, 11};
    req.set(http::field::host, host_header(endpoint));
    req.set(http::field::user_agent, user_agent());
    if (!content_type.empty()) req.set(http::field::content_type, content_type);
    if (!accept.empty()) req.set(http::field::accept, accept);
    req.set(http::field::connection, "keep-alive");
    req.body() = std::move(body);
    if (!req.body().empty() || method == http::verb::post || method == http::verb::put ||
        method == http::verb::patch)
        req.prepare_payload();
    return req;
}

std::string host_header(const base_url& endpoint) {
    std::string host;
    if (endpoint.host.find(':') != std::string::npos)
        host.append("[").append(endpoint.host).append("]");
    else
        host = endpoint.host;
    if (endpoint.port != 443) host.append(":").append(std::to_string(endpoint.port));
    return host;
}

std::string form_encode(std::string_view value) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        const auto u = static_cast<unsigned char>(c);
        if (std::isalnum(u) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
            out += c;
        } else if (c == ' ') {
            out += '+';
        } else {
            out += '%';
            out += hex[u >> 4];
            out += hex[u & 15];
        }
    }
    return out;
}

expected<http_request> build_request(step s, const request_context& ctx) {
    http_request req = base_request(s, ctx);
    switch (s) {
        case step::oauth:
            if (auto r = sign_into_body(req, ctx, client_assertion_claims(ctx.profile.client_id, ctx.now), true); !r)
                return r.error();
            break;
        case step::sso:
            if (ctx.oauth_token == nullptr) return make_error("no OAuth access token for the SSO request");
            set_bearer(req, *ctx.oauth_token);
            if (auto r = sign_into_body(req, ctx,
                                        sso_session_claims(ctx.profile.client_id, ctx.profile.credential,
                                                           ctx.profile.allowed_ip, ctx.now),
                                        false);
                !r)
                return r.error();
            break;
        case step::init:
            req.set(http::field::content_type, "application/json");
            req.body() = boost::json::serialize(boost::json::object{{"publish", true}, {"compete", ctx.compete}});
            [[fallthrough]];
        case step::validate:
        case step::accounts:
        case step::tickle:
        case step::logout:
            if (ctx.sso_bearer == nullptr) return make_error("no SSO session for a /v1/api request");
            set_bearer(req, *ctx.sso_bearer);
            break;
    }
    req.prepare_payload();
    if (req.method() == http::verb::post) req.content_length(req.body().size());
    return req;
}

}  // namespace sessiond
