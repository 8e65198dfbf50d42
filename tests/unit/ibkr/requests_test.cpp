#include "sessiond/ibkr/requests.hpp"

#include "sessiond/crypto/base64url.hpp"
#include "sessiond/crypto/rsa_key.hpp"
#include "support/test_keys.hpp"

#include <boost/beast/http/field.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace sessiond {
namespace {

namespace http = boost::beast::http;
using namespace std::chrono_literals;

constexpr std::int64_t now_epoch = 1760000000;

struct request_fixture {
    ibkr_profile profile;
    base_url endpoint{"https://api.ibkr.com", "api.ibkr.com", 443};
    secret oauth_token{std::string("oauth-access-token-for-the-sso-step")};
    secret sso_bearer{std::string("sso-bearer-for-every-v1-api-call")};
    sys_seconds now{std::chrono::seconds(now_epoch)};

    request_fixture() {
        profile.client_id = "TESTCLIENT01";
        profile.client_key_id = "main";
        profile.private_key = rsa_private_key::from_pem(testing::shared_rsa_key().pkcs8_pem).value();
        profile.credential = "paperuser123";
        profile.account_id = "DU1234567";
        profile.allowed_ip = "203.0.113.7";
    }

    [[nodiscard]] request_context context(bool compete = true) const {
        return request_context{profile, endpoint, now, &oauth_token, &sso_bearer, compete};
    }
    [[nodiscard]] http_request build(step s, bool compete = true) const {
        auto req = build_request(s, context(compete));
        if (!req) throw std::runtime_error(req.error().message);
        return std::move(*req);
    }
};

std::string field_of(const http_request& req, http::field f) { return std::string(req[f]); }
bool has_field(const http_request& req, http::field f) { return req.find(f) != req.end(); }

std::string percent_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out += ' ';
        } else if (s[i] == '%' && i + 2 < s.size()) {
            out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

// The form body as ordered (name, raw value) pairs.
std::vector<std::pair<std::string, std::string>> form_fields(std::string_view body) {
    std::vector<std::pair<std::string, std::string>> out;
    while (!body.empty()) {
        const auto amp = body.find('&');
        const std::string_view item = body.substr(0, amp);
        const auto eq = item.find('=');
        out.emplace_back(std::string(item.substr(0, eq)),
                         eq == std::string_view::npos ? std::string() : std::string(item.substr(eq + 1)));
        if (amp == std::string_view::npos) break;
        body.remove_prefix(amp + 1);
    }
    return out;
}

struct decoded_jws {
    std::string header_json;
    std::string claims_json;
    boost::json::object claims;
    std::string signing_input;
    std::string signature;
};

decoded_jws decode_jws(std::string_view jws) {
    const auto dot1 = jws.find('.');
    const auto dot2 = jws.find('.', dot1 + 1);
    if (dot1 == std::string_view::npos || dot2 == std::string_view::npos || jws.find('.', dot2 + 1) != std::string_view::npos)
        throw std::runtime_error("not a compact JWS");
    decoded_jws out;
    out.header_json = base64url_decode(jws.substr(0, dot1)).value();
    out.claims_json = base64url_decode(jws.substr(dot1 + 1, dot2 - dot1 - 1)).value();
    out.claims = boost::json::parse(out.claims_json).as_object();
    out.signing_input = std::string(jws.substr(0, dot2));
    out.signature = base64url_decode(jws.substr(dot2 + 1)).value();
    return out;
}

// RS256 verification with OpenSSL directly, independent of the code under test.
bool verify_rs256(const std::string& public_pem, std::string_view input, std::string_view signature) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(public_pem.data(), static_cast<int>(public_pem.size())),
                                                  &BIO_free);
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr),
                                                           &EVP_PKEY_free);
    if (!key) throw std::runtime_error("cannot read the public key");
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    if (EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1)
        throw std::runtime_error("EVP_DigestVerifyInit failed");
    return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                            reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
}

std::string client_assertion_of(const http_request& req) {
    for (const auto& [name, value] : form_fields(req.body()))
        if (name == "client_assertion") return percent_decode(value);
    throw std::runtime_error("no client_assertion");
}

// ---- method and target ----

TEST(ibkr_requests, every_step_uses_the_method_and_path_of_the_protocol) {
    const request_fixture f;
    const std::map<step, std::pair<http::verb, std::string>> expected{
        {step::oauth, {http::verb::post, "/oauth2/api/v1/token"}},
        {step::sso, {http::verb::post, "/gw/api/v1/sso-sessions"}},
        {step::validate, {http::verb::get, "/v1/api/sso/validate"}},
        {step::init, {http::verb::post, "/v1/api/iserver/auth/ssodh/init"}},
        {step::accounts, {http::verb::get, "/v1/api/iserver/accounts"}},
        {step::tickle, {http::verb::post, "/v1/api/tickle"}},
        {step::logout, {http::verb::post, "/v1/api/logout"}},
    };
    ASSERT_EQ(expected.size(), all_steps.size());
    for (const step s : all_steps) {
        SCOPED_TRACE(std::string(to_string(s)));
        const auto req = f.build(s);
        EXPECT_EQ(req.method(), expected.at(s).first);
        EXPECT_EQ(std::string(req.target()), expected.at(s).second);
        EXPECT_EQ(req.version(), 11u);
    }
}

// ---- common headers ----

TEST(ibkr_requests, every_step_sends_host_user_agent_and_json_accept) {
    const request_fixture f;
    for (const step s : all_steps) {
        SCOPED_TRACE(std::string(to_string(s)));
        const auto req = f.build(s);
        EXPECT_EQ(field_of(req, http::field::host), "api.ibkr.com");
        EXPECT_EQ(field_of(req, http::field::user_agent), "ibkr-sessiond/" SESSIOND_VERSION);
        EXPECT_EQ(field_of(req, http::field::accept), "application/json");
        EXPECT_EQ(field_of(req, http::field::connection), "keep-alive");
    }
}

TEST(ibkr_requests, user_agent_names_the_daemon_and_its_version) {
    EXPECT_EQ(user_agent(), "ibkr-sessiond/" SESSIOND_VERSION);
}

TEST(ibkr_requests, host_header_omits_the_default_port) {
    EXPECT_EQ(host_header({"https://api.ibkr.com", "api.ibkr.com", 443}), "api.ibkr.com");
    EXPECT_EQ(host_header({"https://1.api.ibkr.com/", "1.api.ibkr.com", 443}), "1.api.ibkr.com");
}

TEST(ibkr_requests, host_header_carries_a_non_default_port) {
    EXPECT_EQ(host_header({"https://localhost:8443", "localhost", 8443}), "localhost:8443");
    EXPECT_EQ(host_header({"https://127.0.0.1:4443", "127.0.0.1", 4443}), "127.0.0.1:4443");
    EXPECT_EQ(host_header({"https://sim:80", "sim", 80}), "sim:80");
}

TEST(ibkr_requests, host_header_brackets_ipv6_literals) {
    EXPECT_EQ(host_header({"https://[::1]", "::1", 443}), "[::1]");
    EXPECT_EQ(host_header({"https://[::1]:8443", "::1", 8443}), "[::1]:8443");
    EXPECT_EQ(host_header({"https://[2001:db8::7]:65535", "2001:db8::7", 65535}), "[2001:db8::7]:65535");
}

TEST(ibkr_requests, request_host_header_follows_the_configured_endpoint) {
    request_fixture f;
    f.endpoint = {"https://[2001:db8::7]:8443", "2001:db8::7", 8443};
    for (const step s : all_steps) EXPECT_EQ(field_of(f.build(s), http::field::host), "[2001:db8::7]:8443");
}

// ---- Content-Length and bodies ----

TEST(ibkr_requests, every_post_carries_content_length_even_when_empty) {
    const request_fixture f;
    for (const step s : all_steps) {
        SCOPED_TRACE(std::string(to_string(s)));
        const auto req = f.build(s);
        if (req.method() != http::verb::post) continue;
        ASSERT_TRUE(has_field(req, http::field::content_length));
        EXPECT_EQ(field_of(req, http::field::content_length), std::to_string(req.body().size()));
        EXPECT_FALSE(has_field(req, http::field::transfer_encoding));
    }
    EXPECT_EQ(field_of(f.build(step::tickle), http::field::content_length), "0");
    EXPECT_EQ(field_of(f.build(step::logout), http::field::content_length), "0");
}

TEST(ibkr_requests, get_requests_have_no_body_and_no_content_headers) {
    const request_fixture f;
    for (const step s : {step::validate, step::accounts}) {
        SCOPED_TRACE(std::string(to_string(s)));
        const auto req = f.build(s);
        EXPECT_TRUE(req.body().empty());
        EXPECT_FALSE(has_field(req, http::field::content_type));
        EXPECT_FALSE(has_field(req, http::field::transfer_encoding));
        EXPECT_FALSE(has_field(req, http::field::content_length));
    }
}

TEST(ibkr_requests, tickle_and_logout_are_empty_posts_without_content_type) {
    const request_fixture f;
    for (const step s : {step::tickle, step::logout}) {
        const auto req = f.build(s);
        EXPECT_TRUE(req.body().empty());
        EXPECT_FALSE(has_field(req, http::field::content_type));
    }
}

// ---- Authorization ----

TEST(ibkr_requests, oauth_request_has_no_authorization) {
    const request_fixture f;
    EXPECT_FALSE(has_field(f.build(step::oauth), http::field::authorization));
}

TEST(ibkr_requests, sso_request_carries_the_oauth_access_token) {
    const request_fixture f;
    EXPECT_EQ(field_of(f.build(step::sso), http::field::authorization), "Bearer oauth-access-token-for-the-sso-step");
}

TEST(ibkr_requests, every_v1_api_request_carries_the_sso_bearer) {
    const request_fixture f;
    for (const step s : {step::validate, step::init, step::accounts, step::tickle, step::logout}) {
        SCOPED_TRACE(std::string(to_string(s)));
        EXPECT_EQ(field_of(f.build(s), http::field::authorization), "Bearer sso-bearer-for-every-v1-api-call");
    }
}

TEST(ibkr_requests, sso_request_without_oauth_token_is_refused) {
    const request_fixture f;
    auto ctx = f.context();
    ctx.oauth_token = nullptr;
    const auto req = build_request(step::sso, ctx);
    ASSERT_FALSE(req);
    EXPECT_EQ(req.error().message, "no OAuth access token for the SSO request");
}

TEST(ibkr_requests, v1_api_request_without_sso_bearer_is_refused) {
    const request_fixture f;
    auto ctx = f.context();
    ctx.sso_bearer = nullptr;
    for (const step s : {step::validate, step::init, step::accounts, step::tickle, step::logout}) {
        SCOPED_TRACE(std::string(to_string(s)));
        const auto req = build_request(s, ctx);
        ASSERT_FALSE(req);
        EXPECT_EQ(req.error().message, "no SSO session for a /v1/api request");
    }
    // The login steps do not need it.
    EXPECT_TRUE(build_request(step::oauth, ctx));
    EXPECT_TRUE(build_request(step::sso, ctx));
}

TEST(ibkr_requests, signed_steps_without_a_private_key_are_refused) {
    request_fixture f;
    f.profile.private_key.reset();
    for (const step s : {step::oauth, step::sso}) {
        const auto req = build_request(s, f.context());
        ASSERT_FALSE(req);
        EXPECT_EQ(req.error().message, "no private key loaded");
    }
}

// ---- step 1: the token form ----

TEST(ibkr_requests, oauth_body_is_the_client_credentials_form) {
    const request_fixture f;
    const auto req = f.build(step::oauth);
    EXPECT_EQ(field_of(req, http::field::content_type), "application/x-www-form-urlencoded");
    const auto fields = form_fields(req.body());
    ASSERT_EQ(fields.size(), 4u) << req.body();
    EXPECT_EQ(fields[0], (std::pair<std::string, std::string>{"grant_type", "client_credentials"}));
    EXPECT_EQ(fields[1].first, "client_assertion_type");
    EXPECT_EQ(fields[1].second, "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer");
    EXPECT_EQ(percent_decode(fields[1].second), "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    EXPECT_EQ(fields[2].first, "client_assertion");
    EXPECT_EQ(fields[3], (std::pair<std::string, std::string>{"scope", "sso-sessions.write"}));
}

TEST(ibkr_requests, oauth_body_does_not_send_client_id) {
    const request_fixture f;
    for (const auto& [name, value] : form_fields(f.build(step::oauth).body())) EXPECT_NE(name, "client_id");
}

TEST(ibkr_requests, oauth_scope_is_form_encoded) {
    request_fixture f;
    f.profile.scope = "sso-sessions.write extra/scope";
    const auto fields = form_fields(f.build(step::oauth).body());
    ASSERT_EQ(fields.size(), 4u);
    EXPECT_EQ(fields[3].second, "sso-sessions.write+extra%2Fscope");
}

TEST(ibkr_requests, form_encode_keeps_unreserved_characters_and_escapes_the_rest) {
    EXPECT_EQ(form_encode("AZaz09-_.~"), "AZaz09-_.~");
    EXPECT_EQ(form_encode("a b"), "a+b");
    EXPECT_EQ(form_encode("a&b=c+d/e:f%"), "a%26b%3Dc%2Bd%2Fe%3Af%25");
    EXPECT_EQ(form_encode("caf\xc3\xa9"), "caf%C3%A9");
    EXPECT_EQ(form_encode(std::string_view("\0\n", 2)), "%00%0A");
    EXPECT_EQ(form_encode(""), "");
}

TEST(ibkr_requests, client_assertion_header_is_rs256_jwt_with_the_key_id) {
    const request_fixture f;
    const auto jws = decode_jws(client_assertion_of(f.build(step::oauth)));
    EXPECT_EQ(jws.header_json, R"({"alg":"RS256","typ":"JWT","kid":"main"})");
}

TEST(ibkr_requests, client_assertion_claims_follow_ibkr_samples) {
    const request_fixture f;
    const auto jws = decode_jws(client_assertion_of(f.build(step::oauth)));
    const boost::json::object expected{{"iss", "TESTCLIENT01"},
                                       {"sub", "TESTCLIENT01"},
                                       {"aud", "/token"},
                                       {"iat", now_epoch - 10},
                                       {"exp", now_epoch + 20}};
    EXPECT_EQ(jws.claims, expected) << jws.claims_json;
    EXPECT_FALSE(jws.claims.contains("jti"));
    EXPECT_FALSE(jws.claims.contains("scope"));
    // Compact serialization: no blanks anywhere.
    EXPECT_EQ(jws.claims_json.find(' '), std::string::npos);
}

TEST(ibkr_requests, client_assertion_signature_verifies_with_the_public_key) {
    const request_fixture f;
    const auto jws = decode_jws(client_assertion_of(f.build(step::oauth)));
    EXPECT_EQ(jws.signature.size(), 256u);
    EXPECT_TRUE(verify_rs256(testing::shared_rsa_key().public_pem, jws.signing_input, jws.signature));
    EXPECT_FALSE(verify_rs256(testing::other_rsa_key().public_pem, jws.signing_input, jws.signature));
    EXPECT_FALSE(verify_rs256(testing::shared_rsa_key().public_pem, jws.signing_input + "x", jws.signature));
}

TEST(ibkr_requests, client_assertion_uses_the_request_clock) {
    request_fixture f;
    f.now = sys_seconds(std::chrono::seconds(1700000000));
    const auto jws = decode_jws(client_assertion_of(f.build(step::oauth)));
    EXPECT_EQ(jws.claims.at("iat").as_int64(), 1700000000 - 10);
    EXPECT_EQ(jws.claims.at("exp").as_int64(), 1700000000 + 20);
}

// ---- step 2: the SSO request ----

TEST(ibkr_requests, sso_body_is_the_raw_signed_jwt) {
    const request_fixture f;
    const auto req = f.build(step::sso);
    EXPECT_EQ(field_of(req, http::field::content_type), "application/jwt");
    const std::string& body = req.body();
    EXPECT_EQ(body.front(), 'e');  // base64url of '{"': not JSON, not a form
    EXPECT_EQ(body.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."),
              std::string::npos);
    EXPECT_NO_THROW(decode_jws(body));
}

TEST(ibkr_requests, sso_jwt_header_is_rs256_jwt_with_the_key_id) {
    request_fixture f;
    f.profile.client_key_id = "key-2024";
    EXPECT_EQ(decode_jws(f.build(step::sso).body()).header_json, R"({"alg":"RS256","typ":"JWT","kid":"key-2024"})");
}

TEST(ibkr_requests, sso_jwt_claims_carry_ip_credential_and_a_day_of_validity) {
    const request_fixture f;
    const auto jws = decode_jws(f.build(step::sso).body());
    const boost::json::object expected{{"ip", "203.0.113.7"},
                                       {"credential", "paperuser123"},
                                       {"iss", "TESTCLIENT01"},
                                       {"iat", now_epoch},
                                       {"exp", now_epoch + 86400}};
    EXPECT_EQ(jws.claims, expected) << jws.claims_json;
    EXPECT_FALSE(jws.claims.contains("aud"));
    EXPECT_FALSE(jws.claims.contains("sub"));
    EXPECT_FALSE(jws.claims.contains("maxAge"));
}

TEST(ibkr_requests, sso_jwt_signature_verifies_with_the_public_key) {
    const request_fixture f;
    const auto jws = decode_jws(f.build(step::sso).body());
    EXPECT_TRUE(verify_rs256(testing::shared_rsa_key().public_pem, jws.signing_input, jws.signature));
    EXPECT_FALSE(verify_rs256(testing::other_rsa_key().public_pem, jws.signing_input, jws.signature));
}

TEST(ibkr_requests, pkcs1_key_signs_the_same_verifiable_assertion) {
    request_fixture f;
    f.profile.private_key = rsa_private_key::from_pem(testing::shared_rsa_key().pkcs1_pem).value();
    const auto jws = decode_jws(f.build(step::sso).body());
    EXPECT_TRUE(verify_rs256(testing::shared_rsa_key().public_pem, jws.signing_input, jws.signature));
}

TEST(ibkr_requests, sso_jwt_escapes_json_in_claim_values) {
    request_fixture f;
    f.profile.credential = "user\"with\\quote";
    const auto jws = decode_jws(f.build(step::sso).body());
    EXPECT_EQ(jws.claims.at("credential").as_string(), "user\"with\\quote");
}

// ---- brokerage init ----

TEST(ibkr_requests, init_body_publishes_and_competes_as_configured) {
    const request_fixture f;
    const auto competing = f.build(step::init, true);
    EXPECT_EQ(competing.body(), R"({"publish":true,"compete":true})");
    EXPECT_EQ(field_of(competing, http::field::content_type), "application/json");
    EXPECT_EQ(field_of(competing, http::field::content_length), std::to_string(competing.body().size()));
    EXPECT_EQ(f.build(step::init, false).body(), R"({"publish":true,"compete":false})");
}

TEST(ibkr_requests, compete_flag_only_affects_init) {
    const request_fixture f;
    for (const step s : {step::validate, step::accounts, step::tickle, step::logout})
        EXPECT_EQ(f.build(s, false).body(), f.build(s, true).body());
}

}  // namespace
}  // namespace sessiond
