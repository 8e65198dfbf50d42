#include "ibkr_requests.hpp"

#include "sessiond/crypto/base64url.hpp"
#include "sessiond/crypto/jws.hpp"
#include "sessiond/crypto/rsa_key.hpp"

#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include <gtest/gtest.h>

#include <stdexcept>

namespace sessiond::sim::requests {

http_request post(std::string_view path, std::string body, std::string_view content_type, std::string_view bearer) {
    http_request req{http::verb::post, path, 11};
    if (!content_type.empty()) req.set(http::field::content_type, content_type);
    if (!bearer.empty()) req.set(http::field::authorization, "Bearer " + std::string(bearer));
    req.body() = std::move(body);
    req.content_length(req.body().size());
    return req;
}

http_request get(std::string_view path, std::string_view bearer) {
    http_request req{http::verb::get, path, 11};
    if (!bearer.empty()) req.set(http::field::authorization, "Bearer " + std::string(bearer));
    return req;
}

std::int64_t epoch_seconds(std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

boost::json::object assertion_claims(const client_identity& id, std::chrono::system_clock::time_point now) {
    const auto t = epoch_seconds(now);
    return {{"iss", id.client_id}, {"sub", id.client_id}, {"aud", "/token"}, {"iat", t - 10}, {"exp", t + 20}};
}

boost::json::object sso_claims(const client_identity& id, std::chrono::system_clock::time_point now) {
    const auto t = epoch_seconds(now);
    return {{"ip", id.ip}, {"credential", id.credential}, {"iss", id.client_id}, {"iat", t}, {"exp", t + 86400}};
}

std::string sign(const boost::json::object& claims, std::string_view key_id,
                 const sessiond::testing::rsa_test_key& key) {
    auto private_key = rsa_private_key::from_pem(key.pkcs8_pem);
    if (!private_key) throw std::runtime_error(private_key.error().message);
    auto jws = sign_jws(*private_key, key_id, claims);
    if (!jws) throw std::runtime_error(jws.error().message);
    return std::string(jws->reveal());
}

std::string sign_with_header(const boost::json::object& header, const boost::json::object& claims,
                             const sessiond::testing::rsa_test_key& key) {
    auto private_key = rsa_private_key::from_pem(key.pkcs8_pem);
    if (!private_key) throw std::runtime_error(private_key.error().message);
    const std::string input = jws_signing_input(header, claims);
    auto signature = sign_rs256(*private_key, input);
    if (!signature) throw std::runtime_error(signature.error().message);
    return input + "." + base64url_encode(*signature);
}

form_fields token_form(const client_identity& id, std::string assertion) {
    return {{"grant_type", "client_credentials"},
            {"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
            {"client_assertion", std::move(assertion)},
            {"scope", id.scope}};
}

std::string form_body(const form_fields& fields) {
    std::string body;
    for (const auto& [name, value] : fields) {
        if (!body.empty()) body += '&';
        body += boost::urls::encode(name, boost::urls::unreserved_chars);
        body += '=';
        body += boost::urls::encode(value, boost::urls::unreserved_chars);
    }
    return body;
}

form_fields with_field(form_fields fields, std::string_view name, std::string value, bool remove) {
    std::erase_if(fields, [&](const auto& f) { return f.first == name; });
    if (!remove) fields.emplace_back(std::string(name), std::move(value));
    return fields;
}

using sessiond::testing::http_client;
using sessiond::testing::http_request_options;

http_request_options with_bearer(std::string_view bearer, std::optional<std::string> content_type) {
    http_request_options o;
    o.headers.emplace_back("Authorization", "Bearer " + std::string(bearer));
    o.content_type = std::move(content_type);
    return o;
}

std::string open_sso_session(http_client& client, const client_identity& id) {
    const auto now = std::chrono::system_clock::now();
    http_request_options form;
    form.content_type = "application/x-www-form-urlencoded";
    auto token = client.post("/oauth2/api/v1/token", form_body(token_form(id, sign(assertion_claims(id, now), id.key_id))), form);
    EXPECT_TRUE(token.has_value()) << (token ? "" : token.error().message);
    if (!token) return {};
    EXPECT_EQ(token->status, 200u) << token->body;
    const std::string access_token(token->json().at("access_token").as_string());
    auto sso = client.post("/gw/api/v1/sso-sessions", sign(sso_claims(id, now), id.key_id),
                           with_bearer(access_token, "application/jwt"));
    EXPECT_TRUE(sso.has_value()) << (sso ? "" : sso.error().message);
    if (!sso) return {};
    EXPECT_EQ(sso->status, 200u) << sso->body;
    return std::string(sso->json().at("access_token").as_string());
}

void establish_brokerage(http_client& client, std::string_view bearer) {
    auto init = client.post_json("/v1/api/iserver/auth/ssodh/init",
                                 boost::json::object{{"publish", true}, {"compete", true}}, with_bearer(bearer));
    ASSERT_TRUE(init.has_value()) << init.error().message;
    ASSERT_EQ(init->status, 200u) << init->body;
    auto accounts = client.get("/v1/api/iserver/accounts", with_bearer(bearer));
    ASSERT_TRUE(accounts.has_value()) << accounts.error().message;
    ASSERT_EQ(accounts->status, 200u) << accounts->body;
}

std::string tickle_session(http_client& client, std::string_view bearer) {
    auto tickle = client.post("/v1/api/tickle", "", with_bearer(bearer));
    EXPECT_TRUE(tickle.has_value()) << (tickle ? "" : tickle.error().message);
    if (!tickle || tickle->status != 200) return {};
    return std::string(tickle->json().at("session").as_string());
}

}  // namespace sessiond::sim::requests
