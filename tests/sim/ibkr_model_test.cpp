// The simulator's IBKR rules, checked on the model alone (no sockets): every refusal of the reference
// protocol, and the session behaviour the daemon has to cope with.

#include "ibkr_sim/ibkr_model.hpp"
#include "ibkr_sim/market_data.hpp"

#include "ibkr_requests.hpp"
#include "support/test_keys.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

#include <optional>

namespace sessiond::sim {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using sessiond::testing::other_rsa_key;
using sessiond::testing::shared_rsa_key;
using requests::client_identity;

constexpr std::string_view token_path = "/oauth2/api/v1/token";
constexpr std::string_view sso_path = "/gw/api/v1/sso-sessions";

model_config default_config() {
    model_config c;
    c.users.front().public_key_pem = shared_rsa_key().public_pem;
    return c;
}

json::object body_of(const model_reply& r) {
    boost::system::error_code ec;
    json::value v = json::parse(r.response.body(), ec);
    if (ec || !v.is_object()) return {};
    return v.as_object();
}

class ibkr_model_test : public ::testing::Test {
protected:
    ibkr_model_test() { configure(default_config()); }

    void configure(model_config c) {
        config_ = c;
        model_.emplace(ibkr_model::create(std::move(c)).value());
    }

    // The default configuration with these pacing limits.
    void configure_pacing(std::size_t max_requests_per_second, sim_duration penalty_box) {
        auto c = default_config();
        c.max_requests_per_second = max_requests_per_second;
        c.penalty_box = penalty_box;
        configure(c);
    }

    model_reply send(const http_request& req) { return model_->handle(req, now_); }
    void advance(std::chrono::milliseconds d) { now_ += d; }

    static http_request post(std::string_view path, std::string body, std::string_view content_type,
                             std::string_view bearer = {}) {
        return requests::post(path, std::move(body), content_type, bearer);
    }
    static http_request get(std::string_view path, std::string_view bearer = {}) { return requests::get(path, bearer); }

    // ---- step 1 ----
    json::object assertion_claims() const { return requests::assertion_claims(id_, now_); }
    model_reply request_token(const requests::form_fields& form) {
        return send(post(token_path, requests::form_body(form), "application/x-www-form-urlencoded"));
    }
    model_reply request_token_with(const json::object& claims, std::string_view kid = "main",
                                   const sessiond::testing::rsa_test_key& key = shared_rsa_key()) {
        return request_token(requests::token_form(id_, requests::sign(claims, kid, key)));
    }
    std::string oauth_token() {
        const auto r = request_token_with(assertion_claims());
        EXPECT_EQ(r.response.result_int(), 200u) << r.response.body();
        return std::string(body_of(r).at("access_token").as_string());
    }

    // ---- step 2 ----
    json::object sso_claims() const { return requests::sso_claims(id_, now_); }
    model_reply request_sso(std::string_view token, const json::object& claims,
                            const sessiond::testing::rsa_test_key& key = shared_rsa_key()) {
        return send(post(sso_path, requests::sign(claims, "main", key), "application/jwt", token));
    }
    std::string sso_bearer() {
        const auto r = request_sso(oauth_token(), sso_claims());
        EXPECT_EQ(r.response.result_int(), 200u) << r.response.body();
        return std::string(body_of(r).at("access_token").as_string());
    }

    // ---- /v1/api ----
    model_reply tickle(std::string_view bearer) { return send(post("/v1/api/tickle", "", "", bearer)); }
    model_reply validate(std::string_view bearer) { return send(get("/v1/api/sso/validate", bearer)); }
    model_reply init(std::string_view bearer, std::string_view body = R"({"publish":true,"compete":true})") {
        return send(post("/v1/api/iserver/auth/ssodh/init", std::string(body), "application/json", bearer));
    }
    model_reply accounts(std::string_view bearer) { return send(get("/v1/api/iserver/accounts", bearer)); }
    model_reply auth_status(std::string_view bearer) {
        return send(post("/v1/api/iserver/auth/status", "", "", bearer));
    }
    model_reply logout(std::string_view bearer) { return send(post("/v1/api/logout", "", "", bearer)); }

    // A session ready for trading: SSO bearer, brokerage initialised, /iserver/accounts queried.
    std::string trading_bearer() {
        const std::string bearer = sso_bearer();
        EXPECT_EQ(init(bearer).response.result_int(), 200u);
        EXPECT_EQ(accounts(bearer).response.result_int(), 200u);
        return bearer;
    }
    model_reply place(std::string_view bearer, std::string_view body, std::string_view account = "DU1234567") {
        return send(post("/v1/api/iserver/account/" + std::string(account) + "/orders", std::string(body),
                         "application/json", bearer));
    }
    static json::value json_of(const model_reply& r) {
        boost::system::error_code ec;
        json::value v = json::parse(r.response.body(), ec);
        return ec ? json::value() : v;
    }
    static http_request websocket_upgrade(std::string_view target, std::string_view cookie) {
        http_request req{http::verb::get, target, 11};
        req.set(http::field::connection, "Upgrade");
        req.set(http::field::upgrade, "websocket");
        req.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
        req.set(http::field::sec_websocket_version, "13");
        if (!cookie.empty()) req.set(http::field::cookie, cookie);
        return req;
    }
    std::string session_token(std::string_view bearer) {
        return std::string(body_of(tickle(bearer)).at("session").as_string());
    }

    static json::object tickle_auth_status(const model_reply& r) {
        return body_of(r).at("iserver").at("authStatus").as_object();
    }

    static void expect_problem(const model_reply& r, unsigned status, std::string_view reason) {
        EXPECT_EQ(r.response.result_int(), status) << r.response.body();
        EXPECT_EQ(r.reason, reason);
        EXPECT_EQ(r.response[http::field::content_type], "application/problem+json");
        const auto body = body_of(r);
        EXPECT_EQ(body.at("type"), "about:blank");
        EXPECT_EQ(body.at("status"), status);
        EXPECT_TRUE(body.at("title").is_string());
        EXPECT_FALSE(body.at("detail").as_string().empty());
    }

    static void expect_invalid_bearer(const model_reply& r, std::string_view reason) {
        EXPECT_EQ(r.response.result_int(), 401u);
        EXPECT_EQ(r.reason, reason);
        EXPECT_EQ(r.response[http::field::content_type], "application/json");
        EXPECT_EQ(body_of(r), (json::object{{"error", "Invalid or expired access token"}, {"statusCode", 401}}));
    }

    client_identity id_;
    model_config config_;
    std::optional<ibkr_model> model_;
    wall_time now_ = wall_time{} + 1'800'000'000s;
};

// ---------------------------------------------------------------- step 1: OAuth access token

TEST_F(ibkr_model_test, issues_access_token_for_valid_client_assertion) {
    const auto r = request_token_with(assertion_claims());
    ASSERT_EQ(r.response.result_int(), 200u) << r.response.body();
    EXPECT_TRUE(r.reason.empty());
    EXPECT_EQ(r.response[http::field::content_type], "application/json");
    const auto body = body_of(r);
    EXPECT_GE(body.at("access_token").as_string().size(), 43u);  // 32 random bytes in base64url
    EXPECT_EQ(body.at("token_type"), "Bearer");
    EXPECT_EQ(body.at("scope"), "sso-sessions.write");
    EXPECT_EQ(body.at("expires_in"), 86400);
    EXPECT_EQ(model_->counters().tokens_issued, 1u);
}

// Many users on one client each keep a live OAuth token, two while a user changes hands between
// replicas: past a thousand, none is pushed out by the others'.
TEST_F(ibkr_model_test, every_user_of_a_shared_client_keeps_its_live_oauth_token_past_a_thousand_tokens) {
    auto c = default_config();
    for (int i = 1; i < 600; ++i) {
        user_config u = c.users.front();
        u.username = "simuser" + std::to_string(i);
        u.accounts = {"DU" + std::to_string(2000000 + i)};
        c.users.push_back(u);
    }
    c.max_requests_per_second = 0;  // the client's request pace is not what this is about
    configure(c);
    const std::string first = oauth_token();
    const auto form = requests::token_form(id_, requests::sign(assertion_claims(), "main", shared_rsa_key()));
    for (int i = 0; i < 1150; ++i) {
        const auto r = request_token(form);
        ASSERT_EQ(r.response.result_int(), 200u) << r.response.body();
    }
    const auto sso = request_sso(first, sso_claims());
    EXPECT_EQ(sso.response.result_int(), 200u) << "the first token is still live: " << sso.response.body();
}

TEST_F(ibkr_model_test, issues_a_different_token_each_time) {
    EXPECT_NE(oauth_token(), oauth_token());
}

TEST_F(ibkr_model_test, rejects_assertion_signed_with_another_key) {
    expect_problem(request_token_with(assertion_claims(), "main", other_rsa_key()), 401, "assertion_bad_signature");
}

TEST_F(ibkr_model_test, rejects_assertion_with_unregistered_kid) {
    expect_problem(request_token_with(assertion_claims(), "other"), 401, "assertion_wrong_kid");
}

TEST_F(ibkr_model_test, rejects_assertion_whose_alg_is_not_rs256) {
    const auto jws = requests::sign_with_header({{"alg", "RS512"}, {"typ", "JWT"}, {"kid", "main"}}, assertion_claims());
    expect_problem(request_token(requests::token_form(id_, jws)), 401, "assertion_wrong_alg");
}

TEST_F(ibkr_model_test, rejects_assertion_whose_typ_is_not_jwt) {
    const auto jws = requests::sign_with_header({{"alg", "RS256"}, {"typ", "JOSE+JSON"}, {"kid", "main"}}, assertion_claims());
    expect_problem(request_token(requests::token_form(id_, jws)), 401, "assertion_wrong_typ");
}

TEST_F(ibkr_model_test, accepts_assertion_without_typ) {
    const auto jws = requests::sign_with_header({{"alg", "RS256"}, {"kid", "main"}}, assertion_claims());
    EXPECT_EQ(request_token(requests::token_form(id_, jws)).response.result_int(), 200u);
}

TEST_F(ibkr_model_test, rejects_assertion_that_is_not_three_segments) {
    const auto jws = requests::sign(assertion_claims(), "main");
    expect_problem(request_token(requests::token_form(id_, jws.substr(0, jws.rfind('.')))), 401,
                   "assertion_not_three_segments");
    expect_problem(request_token(requests::token_form(id_, jws + ".extra")), 401, "assertion_not_three_segments");
}

TEST_F(ibkr_model_test, rejects_assertion_with_padded_base64) {
    const auto jws = requests::sign(assertion_claims(), "main");
    expect_problem(request_token(requests::token_form(id_, jws + "==")), 401, "assertion_bad_signature");
}

TEST_F(ibkr_model_test, rejects_assertion_with_tampered_claims) {
    const auto jws = requests::sign(assertion_claims(), "main");
    client_identity someone_else;
    someone_else.client_id = "someone-else";
    const auto other = requests::sign(requests::assertion_claims(someone_else, now_), "main");
    const auto first = jws.find('.');
    const auto second = jws.rfind('.');
    const auto forged = jws.substr(0, first) + other.substr(other.find('.'), other.rfind('.') - other.find('.')) +
                        jws.substr(second);
    expect_problem(request_token(requests::token_form(id_, forged)), 401, "assertion_bad_signature");
}

TEST_F(ibkr_model_test, rejects_assertion_with_wrong_iss) {
    auto claims = assertion_claims();
    claims["iss"] = "someone-else";
    expect_problem(request_token_with(claims), 401, "assertion_wrong_iss");
}

TEST_F(ibkr_model_test, rejects_assertion_with_wrong_sub) {
    auto claims = assertion_claims();
    claims["sub"] = "someone-else";
    expect_problem(request_token_with(claims), 401, "assertion_wrong_sub");
}

TEST_F(ibkr_model_test, rejects_assertion_whose_aud_is_the_full_url) {
    auto claims = assertion_claims();
    claims["aud"] = "https://api.ibkr.com/oauth2/api/v1/token";
    expect_problem(request_token_with(claims), 401, "assertion_wrong_aud");
}

TEST_F(ibkr_model_test, rejects_expired_assertion) {
    auto claims = assertion_claims();
    claims["exp"] = requests::epoch_seconds(now_);  // exp <= now
    expect_problem(request_token_with(claims), 401, "assertion_expired");
}

TEST_F(ibkr_model_test, rejects_assertion_issued_in_the_future_beyond_clock_skew) {
    auto claims = assertion_claims();
    claims["iat"] = requests::epoch_seconds(now_) + 31;
    claims["exp"] = requests::epoch_seconds(now_) + 60;
    expect_problem(request_token_with(claims), 401, "assertion_iat_in_future");
}

TEST_F(ibkr_model_test, accepts_assertion_issued_in_the_future_within_clock_skew) {
    auto claims = assertion_claims();
    claims["iat"] = requests::epoch_seconds(now_) + 30;
    claims["exp"] = requests::epoch_seconds(now_) + 60;
    EXPECT_EQ(request_token_with(claims).response.result_int(), 200u);
}

TEST_F(ibkr_model_test, rejects_assertion_living_longer_than_max_assertion_life) {
    auto claims = assertion_claims();
    claims["exp"] = requests::epoch_seconds(now_) - 10 + 301;
    expect_problem(request_token_with(claims), 401, "assertion_lifetime_too_long");
}

TEST_F(ibkr_model_test, rejects_assertion_without_iat) {
    auto claims = assertion_claims();
    claims.erase("iat");
    expect_problem(request_token_with(claims), 401, "assertion_missing_iat");
}

TEST_F(ibkr_model_test, rejects_token_request_with_wrong_scope) {
    auto form = requests::with_field(requests::token_form(id_, requests::sign(assertion_claims(), "main")), "scope", "trading");
    expect_problem(request_token(form), 400, "wrong_scope");
}

TEST_F(ibkr_model_test, rejects_token_request_with_wrong_grant_type) {
    auto form = requests::with_field(requests::token_form(id_, requests::sign(assertion_claims(), "main")), "grant_type",
                                    "authorization_code");
    expect_problem(request_token(form), 400, "wrong_grant_type");
}

TEST_F(ibkr_model_test, rejects_token_request_with_wrong_assertion_type) {
    auto form = requests::with_field(requests::token_form(id_, requests::sign(assertion_claims(), "main")),
                                    "client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer");
    expect_problem(request_token(form), 400, "wrong_assertion_type");
}

TEST_F(ibkr_model_test, rejects_token_request_without_assertion) {
    auto form = requests::with_field(requests::token_form(id_, ""), "client_assertion", "", true);
    expect_problem(request_token(form), 400, "missing_assertion");
}

TEST_F(ibkr_model_test, rejects_token_request_with_repeated_parameter) {
    auto form = requests::token_form(id_, requests::sign(assertion_claims(), "main"));
    form.emplace_back("scope", "sso-sessions.write");
    expect_problem(request_token(form), 400, "duplicate_parameter");
}

TEST_F(ibkr_model_test, accepts_matching_client_id_and_rejects_another) {
    auto form = requests::token_form(id_, requests::sign(assertion_claims(), "main"));
    EXPECT_EQ(request_token(requests::with_field(form, "client_id", "sim-client")).response.result_int(), 200u);
    expect_problem(request_token(requests::with_field(form, "client_id", "other-client")), 401, "wrong_client_id");
}

TEST_F(ibkr_model_test, rejects_token_request_that_is_not_form_encoded) {
    const json::object body{{"grant_type", "client_credentials"}};
    expect_problem(send(post(token_path, json::serialize(body), "application/json")), 400, "token_wrong_content_type");
}

TEST_F(ibkr_model_test, answers_411_to_post_without_content_length) {
    http_request req{http::verb::post, "/v1/api/tickle", 11};
    req.set(http::field::authorization, "Bearer " + sso_bearer());
    const auto r = send(req);
    EXPECT_EQ(r.response.result_int(), 411u);
    EXPECT_EQ(r.reason, "length_required");
    EXPECT_EQ(model_->counters().tickles, 0u);
}

TEST_F(ibkr_model_test, accepts_chunked_post_without_content_length) {
    const std::string bearer = sso_bearer();
    http_request req{http::verb::post, "/v1/api/tickle", 11};
    req.set(http::field::authorization, "Bearer " + bearer);
    req.chunked(true);
    EXPECT_EQ(send(req).response.result_int(), 200u);
}

// ---------------------------------------------------------------- step 2: SSO session

TEST_F(ibkr_model_test, creates_sso_session_for_valid_signed_request) {
    const std::string token = oauth_token();
    const auto r = request_sso(token, sso_claims());
    ASSERT_EQ(r.response.result_int(), 200u) << r.response.body();
    const auto body = body_of(r);
    EXPECT_EQ(body.at("active"), true);
    EXPECT_EQ(body.at("token_type"), "Bearer");
    EXPECT_NE(body.at("access_token").as_string(), token);
    EXPECT_EQ(model_->counters().sso_sessions_created, 1u);
    EXPECT_EQ(model_->active_sso_sessions(now_), 1u);
}

TEST_F(ibkr_model_test, rejects_sso_request_without_oauth_token) {
    expect_problem(request_sso("", sso_claims()), 401, "missing_oauth_token");
    expect_problem(request_sso("made-up", sso_claims()), 401, "unknown_oauth_token");
}

TEST_F(ibkr_model_test, rejects_sso_request_with_expired_oauth_token) {
    const std::string token = oauth_token();
    advance(86400s);
    expect_problem(request_sso(token, sso_claims()), 401, "oauth_token_expired");
}

TEST_F(ibkr_model_test, rejects_sso_request_bearing_the_sso_token_instead_of_the_oauth_token) {
    const std::string bearer = sso_bearer();
    expect_problem(request_sso(bearer, sso_claims()), 401, "sso_bearer_not_oauth_token");
}

TEST_F(ibkr_model_test, rejects_json_body_to_sso_sessions) {
    const std::string token = oauth_token();
    const json::object body{{"credential", "simuser"}, {"ip", "127.0.0.1"}};
    const auto as_json = send(post(sso_path, json::serialize(body), "application/json", token));
    expect_problem(as_json, 400, "sso_payload_not_signed_jwt");
    EXPECT_EQ(body_of(as_json).at("detail"), "Invalid payload for security policy: SIGNED_JWT");
    expect_problem(send(post(sso_path, json::serialize(body), "application/jwt", token)), 400,
                   "sso_payload_not_signed_jwt");
}

TEST_F(ibkr_model_test, rejects_sso_request_signed_with_another_key) {
    expect_problem(request_sso(oauth_token(), sso_claims(), other_rsa_key()), 401, "sso_jwt_bad_signature");
}

TEST_F(ibkr_model_test, rejects_sso_request_with_wrong_iss) {
    auto claims = sso_claims();
    claims["iss"] = "someone-else";
    expect_problem(request_sso(oauth_token(), claims), 401, "sso_jwt_wrong_iss");
}

TEST_F(ibkr_model_test, rejects_expired_sso_request) {
    auto claims = sso_claims();
    claims["exp"] = requests::epoch_seconds(now_) - 1;
    expect_problem(request_sso(oauth_token(), claims), 401, "sso_jwt_expired");
}

TEST_F(ibkr_model_test, rejects_sso_request_issued_in_the_future) {
    auto claims = sso_claims();
    claims["iat"] = requests::epoch_seconds(now_) + 120;
    expect_problem(request_sso(oauth_token(), claims), 401, "sso_jwt_iat_in_future");
}

TEST_F(ibkr_model_test, rejects_sso_request_for_another_credential) {
    auto claims = sso_claims();
    claims["credential"] = "someoneelse";
    const auto r = request_sso(oauth_token(), claims);
    expect_problem(r, 403, "credential_rejected");
    EXPECT_EQ(body_of(r).at("detail"), "credential rejected");
}

TEST_F(ibkr_model_test, rejects_sso_request_from_an_ip_that_is_not_allowed) {
    auto claims = sso_claims();
    claims["ip"] = "203.0.113.7";
    const auto r = request_sso(oauth_token(), claims);
    expect_problem(r, 403, "ip_not_allowed");
    EXPECT_NE(body_of(r).at("detail").as_string().find("203.0.113.7"), json::string::npos);
}

TEST_F(ibkr_model_test, rejects_sso_request_without_required_claims) {
    auto claims = sso_claims();
    claims.erase("ip");
    expect_problem(request_sso(oauth_token(), claims), 400, "sso_jwt_missing_ip");
}

TEST_F(ibkr_model_test, new_sso_session_supersedes_the_previous_bearer_and_its_brokerage) {
    const std::string first = sso_bearer();
    ASSERT_EQ(init(first).response.result_int(), 200u);
    advance(2s);
    const std::string second = sso_bearer();
    expect_invalid_bearer(tickle(first), "sso_superseded");
    const auto r = tickle(second);
    ASSERT_EQ(r.response.result_int(), 200u);
    EXPECT_EQ(tickle_auth_status(r).at("authenticated"), false);
    EXPECT_EQ(tickle_auth_status(r).at("connected"), false);
    EXPECT_EQ(model_->active_sso_sessions(now_), 1u);
}

// ---------------------------------------------------------------- /v1/api bearer

TEST_F(ibkr_model_test, rejects_api_call_without_bearer) {
    expect_invalid_bearer(tickle(""), "missing_bearer");
    expect_invalid_bearer(validate("no-such-token"), "unknown_bearer");
}

TEST_F(ibkr_model_test, rejects_oauth_token_used_as_sso_bearer) {
    expect_invalid_bearer(tickle(oauth_token()), "oauth_token_not_sso_bearer");
}

TEST_F(ibkr_model_test, sso_bearer_expires_after_sso_lifetime) {
    const std::string bearer = sso_bearer();
    advance(599s);
    EXPECT_EQ(tickle(bearer).response.result_int(), 200u);
    advance(1s);
    expect_invalid_bearer(tickle(bearer), "sso_expired");
    EXPECT_EQ(model_->active_sso_sessions(now_), 0u);
}

TEST_F(ibkr_model_test, expire_sessions_ends_every_token_and_bearer_now) {
    const std::string token = oauth_token();
    const std::string bearer = sso_bearer();
    model_->expire_sessions();
    expect_invalid_bearer(tickle(bearer), "sso_expired");
    expect_problem(request_sso(token, sso_claims()), 401, "oauth_token_expired");
}

// ---------------------------------------------------------------- validate

TEST_F(ibkr_model_test, validate_reports_the_sso_session) {
    const std::string bearer = sso_bearer();
    const auto created = now_;
    advance(100s);
    const auto r = validate(bearer);
    ASSERT_EQ(r.response.result_int(), 200u);
    const auto body = body_of(r);
    EXPECT_EQ(body.at("RESULT"), true);
    EXPECT_EQ(body.at("EXPIRES"), 600000);  // extended to now + sso-lifetime
    EXPECT_EQ(body.at("USER_NAME"), "simuser");
    EXPECT_EQ(body.at("CREDENTIAL"), "simuser");
    EXPECT_EQ(body.at("PAPER_USER_NAME"), "simuser");
    EXPECT_EQ(body.at("AUTH_TIME"), epoch_ms(created));
    EXPECT_EQ(body.at("lastAccessed"), epoch_ms(now_));
    EXPECT_EQ(body.at("LOGIN_TYPE"), 2);
    EXPECT_EQ(body.at("loginType"), 2);
    EXPECT_EQ(body.at("IP"), "127.0.0.1");
    EXPECT_EQ(body.at("USER_ID"), 12345678);
    EXPECT_TRUE(body.at("QUALIFIED_FOR_MOBILE_AUTH").is_null());
    EXPECT_EQ(body.at("features").at("env"), "PROD");
    EXPECT_EQ(model_->counters().validates, 1u);
}

TEST_F(ibkr_model_test, validate_reports_live_login_type) {
    auto c = default_config();
    c.users.front().login = login_type::live;
    configure(c);
    const auto body = body_of(validate(sso_bearer()));
    EXPECT_EQ(body.at("LOGIN_TYPE"), 1);
    EXPECT_EQ(body.at("loginType"), 1);
}

TEST_F(ibkr_model_test, validate_extends_the_sso_session) {
    const std::string bearer = sso_bearer();
    advance(500s);
    ASSERT_EQ(validate(bearer).response.result_int(), 200u);
    advance(500s);  // 1000 s after creation, 500 s after the extension
    EXPECT_EQ(tickle(bearer).response.result_int(), 200u);
    advance(100s);
    expect_invalid_bearer(tickle(bearer), "sso_expired");
}

TEST_F(ibkr_model_test, validate_does_not_extend_when_configured_not_to) {
    auto c = default_config();
    c.validate_extends = false;
    configure(c);
    const std::string bearer = sso_bearer();
    advance(500s);
    EXPECT_EQ(body_of(validate(bearer)).at("EXPIRES"), 100000);
    advance(100s);
    expect_invalid_bearer(tickle(bearer), "sso_expired");
}

TEST_F(ibkr_model_test, sso_session_never_outlives_sso_max_life) {
    auto c = default_config();
    c.sso_max_life = 900s;
    c.validate_min_interval = 1s;
    configure(c);
    const std::string bearer = sso_bearer();
    advance(500s);
    EXPECT_EQ(body_of(validate(bearer)).at("EXPIRES"), 400000);  // capped at creation + 900 s
    advance(400s);
    expect_invalid_bearer(tickle(bearer), "sso_expired");
}

TEST_F(ibkr_model_test, validate_is_rate_limited_per_user) {
    const std::string bearer = sso_bearer();
    ASSERT_EQ(validate(bearer).response.result_int(), 200u);
    advance(59s);
    const auto r = validate(bearer);
    EXPECT_EQ(r.response.result_int(), 429u);
    EXPECT_EQ(r.reason, "rate_limited");
    EXPECT_EQ(body_of(r), (json::object{{"error", "Too Many Requests"}}));
    EXPECT_EQ(r.response.count(http::field::retry_after), 0u);
    advance(1s);
    EXPECT_EQ(validate(bearer).response.result_int(), 200u);
    EXPECT_EQ(model_->counters().validates, 2u);
}

// ---------------------------------------------------------------- tickle

TEST_F(ibkr_model_test, tickle_reports_session_and_sso_expiry) {
    const std::string bearer = sso_bearer();
    advance(10s);
    const auto r = tickle(bearer);
    ASSERT_EQ(r.response.result_int(), 200u);
    const auto body = body_of(r);
    EXPECT_EQ(body.at("session").as_string().size(), 32u);
    EXPECT_EQ(body.at("ssoExpires"), 590000);
    EXPECT_EQ(body.at("collission"), false);
    EXPECT_EQ(body.at("userId"), 12345678);
    EXPECT_EQ(body.at("hmds").at("error"), "no bridge");
    const auto status = tickle_auth_status(r);
    EXPECT_EQ(status.at("authenticated"), false);  // brokerage never initialised
    EXPECT_EQ(status.at("competing"), false);
    EXPECT_EQ(status.at("connected"), false);
    EXPECT_EQ(status.at("MAC"), "98:F2:B3:23:BF:A0");
    EXPECT_EQ(status.at("serverInfo").at("serverName"), "ibkr-sim");
}

TEST_F(ibkr_model_test, tickle_does_not_extend_the_sso_session_by_default) {
    const std::string bearer = sso_bearer();
    advance(300s);
    EXPECT_EQ(body_of(tickle(bearer)).at("ssoExpires"), 300000);
}

TEST_F(ibkr_model_test, tickle_extends_the_sso_session_when_configured) {
    auto c = default_config();
    c.tickle_extends = true;
    configure(c);
    const std::string bearer = sso_bearer();
    advance(300s);
    EXPECT_EQ(body_of(tickle(bearer)).at("ssoExpires"), 600000);
}

TEST_F(ibkr_model_test, tickle_is_rate_limited_per_user) {
    const std::string bearer = sso_bearer();
    ASSERT_EQ(tickle(bearer).response.result_int(), 200u);
    const auto r = tickle(bearer);
    EXPECT_EQ(r.response.result_int(), 429u);
    EXPECT_EQ(r.reason, "rate_limited");
    advance(1s);
    EXPECT_EQ(tickle(bearer).response.result_int(), 200u);
    EXPECT_EQ(model_->counters().tickles, 2u);
}

TEST_F(ibkr_model_test, tickle_accepts_get_as_ibkr_samples_send_it) {
    EXPECT_EQ(send(get("/v1/api/tickle", sso_bearer())).response.result_int(), 200u);
}

// ---------------------------------------------------------------- brokerage session

TEST_F(ibkr_model_test, init_opens_the_brokerage_session) {
    const std::string bearer = sso_bearer();
    const auto r = init(bearer);
    ASSERT_EQ(r.response.result_int(), 200u) << r.response.body();
    const auto body = body_of(r);
    EXPECT_EQ(body.at("authenticated"), true);
    EXPECT_EQ(body.at("competing"), false);
    EXPECT_EQ(body.at("connected"), true);
    EXPECT_EQ(body.at("established"), false);
    EXPECT_EQ(body.at("fail"), "");
    EXPECT_EQ(body.at("message"), "");
    EXPECT_EQ(body.at("MAC"), "98:F2:B3:23:BF:A0");
    EXPECT_TRUE(body.at("serverInfo").at("serverVersion").is_string());
    EXPECT_EQ(model_->counters().inits, 1u);
}

TEST_F(ibkr_model_test, init_with_publish_false_is_a_server_error) {
    const auto r = init(sso_bearer(), R"({"publish":false,"compete":true})");
    EXPECT_EQ(r.response.result_int(), 500u);
    EXPECT_EQ(r.reason, "publish_not_true");
    EXPECT_EQ(body_of(r), (json::object{{"error", "publish must be true"}}));
}

TEST_F(ibkr_model_test, init_rejects_malformed_body) {
    const std::string bearer = sso_bearer();
    for (const std::string_view body : {"", "not json", "[true]", R"({"publish":"yes","compete":true})"}) {
        const auto r = init(bearer, body);
        EXPECT_EQ(r.response.result_int(), 400u) << body;
        EXPECT_TRUE(body_of(r).at("error").is_string()) << body;
    }
    const auto form = send(post("/v1/api/iserver/auth/ssodh/init", "publish=true&compete=true",
                                "application/x-www-form-urlencoded", bearer));
    EXPECT_EQ(form.response.result_int(), 400u);
}

TEST_F(ibkr_model_test, init_without_compete_reports_a_competing_session) {
    const std::string bearer = sso_bearer();
    model_->set_competing(true);
    const auto r = init(bearer, R"({"publish":true,"compete":false})");
    ASSERT_EQ(r.response.result_int(), 200u);
    EXPECT_EQ(r.reason, "competing_session");
    const auto body = body_of(r);
    EXPECT_EQ(body.at("authenticated"), false);
    EXPECT_EQ(body.at("competing"), true);
    EXPECT_EQ(body.at("connected"), true);
    EXPECT_EQ(body.at("established"), false);
    EXPECT_EQ(body.at("fail"), "competing session");
    EXPECT_TRUE(model_->competing());
}

TEST_F(ibkr_model_test, init_with_compete_takes_over_a_competing_session) {
    const std::string bearer = sso_bearer();
    model_->set_competing(true);
    const auto body = body_of(init(bearer, R"({"publish":true,"compete":true})"));
    EXPECT_EQ(body.at("authenticated"), true);
    EXPECT_EQ(body.at("competing"), false);
    EXPECT_FALSE(model_->competing());
}

TEST_F(ibkr_model_test, competing_session_shows_in_tickle_and_ends_brokerage) {
    const std::string bearer = sso_bearer();
    ASSERT_EQ(init(bearer).response.result_int(), 200u);
    model_->set_competing(true);
    const auto status = tickle_auth_status(tickle(bearer));
    EXPECT_EQ(status.at("authenticated"), false);
    EXPECT_EQ(status.at("competing"), true);
    EXPECT_EQ(status.at("connected"), true);
    EXPECT_EQ(accounts(bearer).reason, "no_bridge");
}

TEST_F(ibkr_model_test, accounts_before_init_has_no_bridge) {
    const auto r = accounts(sso_bearer());
    EXPECT_EQ(r.response.result_int(), 400u);
    EXPECT_EQ(r.reason, "no_bridge");
    EXPECT_EQ(body_of(r), (json::object{{"error", "Bad Request: no bridge"}, {"statusCode", 400}}));
}

TEST_F(ibkr_model_test, accounts_after_init_lists_accounts_and_establishes_the_session) {
    auto c = default_config();
    c.users.front().accounts = {"DU1111111", "DU2222222"};
    configure(c);
    const std::string bearer = sso_bearer();
    ASSERT_EQ(init(bearer).response.result_int(), 200u);
    const auto r = accounts(bearer);
    ASSERT_EQ(r.response.result_int(), 200u);
    const auto body = body_of(r);
    EXPECT_EQ(body.at("accounts"), (json::array{"DU1111111", "DU2222222"}));
    EXPECT_EQ(body.at("selectedAccount"), "DU1111111");
    EXPECT_EQ(body.at("aliases").at("DU2222222"), "DU2222222");
    EXPECT_EQ(body.at("acctProps").at("DU1111111").at("supportsFractions"), true);
    EXPECT_EQ(body.at("isPaper"), true);
    EXPECT_FALSE(body.at("sessionId").as_string().empty());
    EXPECT_EQ(body_of(auth_status(bearer)).at("established"), true);
    EXPECT_TRUE(model_->brokerage(now_).established);
}

TEST_F(ibkr_model_test, brokerage_times_out_after_idle_timeout) {
    const std::string bearer = sso_bearer();
    ASSERT_EQ(init(bearer).response.result_int(), 200u);
    advance(300s);
    const auto status = tickle_auth_status(tickle(bearer));
    EXPECT_EQ(status.at("authenticated"), false);
    EXPECT_EQ(status.at("connected"), true);
    EXPECT_EQ(accounts(bearer).reason, "no_bridge");
}

TEST_F(ibkr_model_test, any_api_request_keeps_the_brokerage_alive) {
    const std::string bearer = sso_bearer();
    ASSERT_EQ(init(bearer).response.result_int(), 200u);
    advance(299s);
    EXPECT_EQ(auth_status(bearer).response.result_int(), 200u);
    advance(299s);
    EXPECT_EQ(tickle_auth_status(tickle(bearer)).at("authenticated"), true);
}

TEST_F(ibkr_model_test, drop_brokerage_leaves_it_connected_but_unauthenticated) {
    const std::string bearer = sso_bearer();
    ASSERT_EQ(init(bearer).response.result_int(), 200u);
    model_->drop_brokerage();
    const auto body = body_of(auth_status(bearer));
    EXPECT_EQ(body.at("authenticated"), false);
    EXPECT_EQ(body.at("connected"), true);
    EXPECT_EQ(body.at("competing"), false);
    EXPECT_EQ(init(bearer).response.result_int(), 200u);
    EXPECT_EQ(body_of(auth_status(bearer)).at("authenticated"), true);
}

TEST_F(ibkr_model_test, logout_ends_the_sso_session_and_its_brokerage) {
    const std::string bearer = sso_bearer();
    ASSERT_EQ(init(bearer).response.result_int(), 200u);
    const auto r = logout(bearer);
    ASSERT_EQ(r.response.result_int(), 200u);
    EXPECT_EQ(body_of(r), (json::object{{"status", true}}));
    expect_invalid_bearer(tickle(bearer), "sso_logged_out");
    EXPECT_FALSE(model_->brokerage(now_).connected);
    EXPECT_EQ(model_->counters().logouts, 1u);
}

// ---------------------------------------------------------------- the gateway around it

TEST_F(ibkr_model_test, maintenance_answers_503_on_every_endpoint) {
    const std::string token = oauth_token();
    const std::string bearer = sso_bearer();
    model_->set_maintenance(true);
    advance(1s);  // eight requests more than the three above would exceed 10 per second
    for (const auto& r : {request_token_with(assertion_claims()), request_sso(token, sso_claims()), tickle(bearer),
                          validate(bearer), init(bearer), accounts(bearer), auth_status(bearer), logout(bearer)}) {
        EXPECT_EQ(r.response.result_int(), 503u);
        EXPECT_EQ(r.reason, "maintenance");
        EXPECT_EQ(body_of(r), (json::object{{"error", "Service Unavailable"}}));
    }
    model_->set_maintenance(false);
    EXPECT_EQ(tickle(bearer).response.result_int(), 200u);
}

TEST_F(ibkr_model_test, timed_maintenance_ends_by_itself) {
    const std::string bearer = sso_bearer();
    model_->start_maintenance(now_, 30s);
    EXPECT_EQ(tickle(bearer).reason, "maintenance");
    EXPECT_EQ(model_->maintenance_left(now_), 30s);
    advance(29'999ms);
    EXPECT_TRUE(model_->maintenance(now_));
    EXPECT_EQ(model_->maintenance_left(now_), 1ms);
    EXPECT_EQ(tickle(bearer).reason, "maintenance");
    advance(1ms);  // exactly at its end it is over
    EXPECT_FALSE(model_->maintenance(now_));
    EXPECT_EQ(model_->maintenance_left(now_), std::nullopt);
    EXPECT_EQ(tickle(bearer).response.result_int(), 200u);
}

TEST_F(ibkr_model_test, a_later_maintenance_call_replaces_the_timing) {
    model_->start_maintenance(now_, 30s);
    advance(1s);
    model_->start_maintenance(now_, 5s);
    EXPECT_EQ(model_->maintenance_left(now_), 5s);
    advance(5s);
    EXPECT_FALSE(model_->maintenance(now_));

    model_->start_maintenance(now_, 5s);
    model_->set_maintenance(true);  // on until switched off: no end any more
    EXPECT_EQ(model_->maintenance_left(now_), std::nullopt);
    advance(1h);
    EXPECT_TRUE(model_->maintenance(now_));

    model_->start_maintenance(now_, 5s);
    model_->set_maintenance(false);  // off cancels a timed maintenance
    EXPECT_FALSE(model_->maintenance(now_));
    EXPECT_EQ(model_->maintenance_left(now_), std::nullopt);
}

TEST_F(ibkr_model_test, nightly_reset_ends_every_session_then_holds_maintenance) {
    const std::string token = oauth_token();
    const std::string bearer = sso_bearer();
    ASSERT_EQ(init(bearer).response.result_int(), 200u);
    model_->set_competing(true);
    model_->nightly_reset(now_, 60s);
    EXPECT_EQ(model_->active_sso_sessions(now_), 0u);
    EXPECT_FALSE(model_->brokerage(now_).connected);
    EXPECT_FALSE(model_->competing());  // the other platform's brokerage session ended too
    EXPECT_EQ(tickle(bearer).reason, "maintenance");
    EXPECT_EQ(model_->maintenance_left(now_), 60s);
    advance(60s);
    expect_invalid_bearer(tickle(bearer), "sso_expired");
    expect_problem(request_sso(token, sso_claims()), 401, "oauth_token_expired");
    const std::string fresh = sso_bearer();
    EXPECT_EQ(tickle(fresh).response.result_int(), 200u);
}

TEST_F(ibkr_model_test, nightly_reset_without_maintenance_only_ends_the_sessions) {
    const std::string bearer = sso_bearer();
    model_->nightly_reset(now_, 0s);
    EXPECT_FALSE(model_->maintenance(now_));
    expect_invalid_bearer(tickle(bearer), "sso_expired");
}

// ---------------------------------------------------------------- pacing of the whole API

TEST_F(ibkr_model_test, refuses_the_request_beyond_max_requests_per_second_with_429) {
    for (int i = 0; i < 10; ++i) ASSERT_EQ(tickle("").reason, "missing_bearer") << i;
    const auto r = tickle("");
    EXPECT_EQ(r.response.result_int(), 429u);
    EXPECT_EQ(r.reason, "global_rate_limited");
    EXPECT_EQ(body_of(r), (json::object{{"error", "Too Many Requests"}}));
    EXPECT_EQ(r.response.count(http::field::retry_after), 0u);
}

TEST_F(ibkr_model_test, the_request_rate_counts_every_endpoint_and_every_answer) {
    // One user, one client: token and sso-sessions count, and so do requests IBKR refuses.
    (void)sso_bearer();  // requests 1 and 2
    expect_problem(request_token_with(assertion_claims(), "other"), 401, "assertion_wrong_kid");
    expect_problem(request_sso("no-such-token", sso_claims()), 401, "unknown_oauth_token");
    EXPECT_EQ(send(get("/v1/api/iserver/scanner/params")).response.result_int(), 404u);
    EXPECT_EQ(send(get(token_path)).response.result_int(), 405u);  // request 6
    model_->set_maintenance(true);
    for (int i = 7; i <= 10; ++i) EXPECT_EQ(tickle("").reason, "maintenance") << i;
    // The limit comes before 411, 404/405 and maintenance.
    http_request no_length{http::verb::post, "/v1/api/tickle", 11};
    EXPECT_EQ(send(no_length).reason, "global_rate_limited");
    EXPECT_EQ(request_token_with(assertion_claims()).reason, "global_rate_limited");
}

TEST_F(ibkr_model_test, a_request_exactly_one_second_old_leaves_the_request_window) {
    for (int i = 0; i < 5; ++i) ASSERT_EQ(tickle("").reason, "missing_bearer");
    advance(500ms);
    for (int i = 0; i < 5; ++i) ASSERT_EQ(tickle("").reason, "missing_bearer");
    advance(499ms);
    EXPECT_EQ(tickle("").reason, "global_rate_limited");
    advance(1ms);  // the first five are exactly 1 s old
    for (int i = 0; i < 5; ++i) EXPECT_EQ(tickle("").reason, "missing_bearer") << i;
    EXPECT_EQ(tickle("").reason, "global_rate_limited");
}

TEST_F(ibkr_model_test, refused_requests_do_not_move_the_request_window) {
    for (int i = 0; i < 10; ++i) ASSERT_EQ(tickle("").reason, "missing_bearer");
    for (int i = 1; i < 10; ++i) {
        advance(100ms);
        EXPECT_EQ(tickle("").reason, "global_rate_limited") << i;
    }
    advance(100ms);
    EXPECT_EQ(tickle("").reason, "missing_bearer");
}

TEST_F(ibkr_model_test, max_requests_per_second_follows_the_configuration_and_0_lifts_it) {
    configure_pacing(2, 0s);
    EXPECT_EQ(tickle("").reason, "missing_bearer");
    EXPECT_EQ(tickle("").reason, "missing_bearer");
    EXPECT_EQ(tickle("").reason, "global_rate_limited");

    configure_pacing(0, 0s);
    for (int i = 0; i < 1000; ++i) ASSERT_EQ(tickle("").reason, "missing_bearer") << i;
}

TEST_F(ibkr_model_test, an_endpoint_limit_429_counts_in_the_request_window) {
    const std::string bearer = sso_bearer();                           // 2
    ASSERT_EQ(tickle(bearer).response.result_int(), 200u);             // 3
    for (int i = 4; i <= 10; ++i) EXPECT_EQ(tickle(bearer).reason, "rate_limited") << i;
    EXPECT_EQ(tickle(bearer).reason, "global_rate_limited");
}

// ---------------------------------------------------------------- penalty box

TEST_F(ibkr_model_test, penalty_box_is_off_by_default) {
    const std::string bearer = sso_bearer();
    ASSERT_EQ(tickle(bearer).response.result_int(), 200u);
    ASSERT_EQ(tickle(bearer).reason, "rate_limited");
    EXPECT_EQ(validate(bearer).response.result_int(), 200u);
    EXPECT_EQ(model_->penalty_box_left(now_), std::nullopt);
    EXPECT_EQ(model_->counters().penalty_box_violations, 0u);
}

TEST_F(ibkr_model_test, a_global_rate_limit_429_puts_the_client_in_the_penalty_box) {
    configure_pacing(2, 600s);
    ASSERT_EQ(tickle("").reason, "missing_bearer");
    ASSERT_EQ(tickle("").reason, "missing_bearer");
    ASSERT_EQ(tickle("").reason, "global_rate_limited");
    EXPECT_EQ(model_->penalty_box_left(now_), 600s);
    EXPECT_EQ(model_->counters().penalty_box_violations, 0u);  // the 429 that closed it is no violation
    advance(2s);  // the request window is empty again; the box is not
    const auto r = request_token_with(assertion_claims());
    EXPECT_EQ(r.response.result_int(), 429u);
    EXPECT_EQ(r.reason, "penalty_box");
    EXPECT_EQ(body_of(r), (json::object{{"error", "Too Many Requests"}}));
    EXPECT_EQ(r.response.count(http::field::retry_after), 0u);
    EXPECT_EQ(model_->counters().penalty_box_violations, 1u);
    EXPECT_EQ(model_->counters().tokens_issued, 0u);
}

TEST_F(ibkr_model_test, a_tickle_or_validate_429_puts_the_client_in_the_penalty_box) {
    configure_pacing(10, 10s);
    const std::string bearer = sso_bearer();
    ASSERT_EQ(validate(bearer).response.result_int(), 200u);
    ASSERT_EQ(validate(bearer).reason, "rate_limited");
    EXPECT_EQ(tickle(bearer).reason, "penalty_box");
    EXPECT_EQ(model_->counters().tickles, 0u);
}

TEST_F(ibkr_model_test, every_request_in_the_penalty_box_restarts_it) {
    configure_pacing(10, 10s);
    const std::string bearer = sso_bearer();
    ASSERT_EQ(tickle(bearer).response.result_int(), 200u);
    ASSERT_EQ(tickle(bearer).reason, "rate_limited");  // the box closes for 10 s
    advance(9s);
    EXPECT_EQ(model_->penalty_box_left(now_), 1s);
    EXPECT_EQ(tickle(bearer).reason, "penalty_box");  // ... and again for 10 s from here
    EXPECT_EQ(model_->penalty_box_left(now_), 10s);
    advance(9'999ms);
    EXPECT_EQ(model_->penalty_box_left(now_), 1ms);
    EXPECT_EQ(tickle(bearer).reason, "penalty_box");
    advance(10s);  // exactly 10 s after the last violation the box opens
    EXPECT_EQ(model_->penalty_box_left(now_), std::nullopt);
    EXPECT_EQ(tickle(bearer).response.result_int(), 200u);
    EXPECT_EQ(model_->counters().penalty_box_violations, 2u);
}

TEST_F(ibkr_model_test, requests_refused_by_the_penalty_box_do_not_count_in_the_request_window) {
    configure_pacing(2, 500ms);
    ASSERT_EQ(tickle("").reason, "missing_bearer");
    ASSERT_EQ(tickle("").reason, "missing_bearer");
    ASSERT_EQ(tickle("").reason, "global_rate_limited");
    advance(400ms);
    for (int i = 0; i < 3; ++i) ASSERT_EQ(tickle("").reason, "penalty_box");  // the box lasts until +900 ms
    advance(600ms);  // the first two left the window at +1 s; the three violations never entered it
    EXPECT_EQ(tickle("").reason, "missing_bearer");
    EXPECT_EQ(tickle("").reason, "missing_bearer");
    EXPECT_EQ(model_->counters().penalty_box_violations, 3u);
}

TEST_F(ibkr_model_test, a_clock_stepped_back_opens_the_penalty_box) {
    configure_pacing(10, 600s);
    const std::string bearer = sso_bearer();
    ASSERT_EQ(tickle(bearer).response.result_int(), 200u);
    ASSERT_EQ(tickle(bearer).reason, "rate_limited");
    advance(-1h);
    EXPECT_EQ(model_->penalty_box_left(now_), std::nullopt);
    EXPECT_EQ(tickle(bearer).response.result_int(), 200u);
}

TEST_F(ibkr_model_test, unknown_path_is_404_and_wrong_method_is_405) {
    const auto missing = send(get("/v1/api/iserver/scanner/params", "x"));
    EXPECT_EQ(missing.response.result_int(), 404u);
    EXPECT_EQ(body_of(missing).at("statusCode"), 404);
    const auto wrong = send(get(token_path));
    EXPECT_EQ(wrong.response.result_int(), 405u);
    EXPECT_EQ(wrong.response[http::field::allow], "POST");
    EXPECT_EQ(body_of(wrong).at("statusCode"), 405);
}

TEST_F(ibkr_model_test, query_string_does_not_change_the_endpoint) {
    EXPECT_EQ(send(get("/v1/api/sso/validate?x=1", sso_bearer())).response.result_int(), 200u);
}

TEST_F(ibkr_model_test, full_session_flow_succeeds) {
    const std::string token = oauth_token();
    const auto sso = request_sso(token, sso_claims());
    ASSERT_EQ(sso.response.result_int(), 200u);
    const std::string bearer(body_of(sso).at("access_token").as_string());
    EXPECT_EQ(body_of(validate(bearer)).at("RESULT"), true);
    EXPECT_EQ(body_of(init(bearer)).at("authenticated"), true);
    advance(3s);
    EXPECT_EQ(accounts(bearer).response.result_int(), 200u);
    const auto status = tickle_auth_status(tickle(bearer));
    EXPECT_EQ(status.at("authenticated"), true);
    EXPECT_EQ(status.at("connected"), true);
    EXPECT_EQ(status.at("competing"), false);
    const auto b = model_->brokerage(now_);
    EXPECT_TRUE(b.authenticated && b.connected && b.established && !b.competing);
    EXPECT_EQ(logout(bearer).response.result_int(), 200u);
    const auto& c = model_->counters();
    EXPECT_EQ(c.tokens_issued, 1u);
    EXPECT_EQ(c.sso_sessions_created, 1u);
    EXPECT_EQ(c.validates, 1u);
    EXPECT_EQ(c.inits, 1u);
    EXPECT_EQ(c.accounts, 1u);
    EXPECT_EQ(c.tickles, 1u);
    EXPECT_EQ(c.logouts, 1u);
}

// ---------------------------------------------------------------- trading endpoints

constexpr std::string_view orders_path = "/v1/api/iserver/account/orders";
constexpr std::string_view snapshot_path = "/v1/api/iserver/marketdata/snapshot";
constexpr std::string_view limit_order =
    R"({"orders":[{"conid":265598,"orderType":"LMT","price":150.5,"side":"BUY","quantity":10,"tif":"DAY","cOID":"a1"}]})";
constexpr std::string_view market_order =
    R"({"orders":[{"conid":8314,"orderType":"MKT","side":"SELL","quantity":3,"tif":"DAY"}]})";

TEST_F(ibkr_model_test, portfolio_accounts_lists_the_configured_accounts_without_a_brokerage_session) {
    const std::string bearer = sso_bearer();
    const auto r = send(get("/v1/api/portfolio/accounts", bearer));
    ASSERT_EQ(r.response.result_int(), 200u) << r.response.body();
    const auto list = json_of(r).as_array();
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0].at("id"), "DU1234567");
    EXPECT_EQ(list[0].at("accountId"), "DU1234567");
    EXPECT_EQ(list[0].at("currency"), "USD");
    EXPECT_EQ(send(get("/v1/api/portfolio/subaccounts", bearer)).response.result_int(), 200u);
}

TEST_F(ibkr_model_test, trading_endpoints_need_the_sso_bearer) {
    for (const std::string_view path : {"/v1/api/portfolio/accounts", "/v1/api/iserver/account/orders",
                                        "/v1/api/iserver/marketdata/snapshot?conids=1&fields=31"})
        expect_invalid_bearer(send(get(path)), "missing_bearer");
    expect_invalid_bearer(place("", limit_order), "missing_bearer");
}

TEST_F(ibkr_model_test, iserver_trading_endpoints_need_an_authenticated_brokerage_then_the_accounts_call) {
    const std::string bearer = sso_bearer();
    const auto before_init = send(get(orders_path, bearer));
    EXPECT_EQ(before_init.response.result_int(), 400u);
    EXPECT_EQ(before_init.reason, "no_bridge");
    ASSERT_EQ(init(bearer).response.result_int(), 200u);
    advance(5s);
    const auto before_accounts = send(get(orders_path, bearer));
    EXPECT_EQ(before_accounts.response.result_int(), 500u);
    EXPECT_EQ(before_accounts.reason, "accounts_not_queried");
    EXPECT_EQ(body_of(before_accounts).at("error"), "Please query /accounts first");
    ASSERT_EQ(accounts(bearer).response.result_int(), 200u);
    advance(5s);
    EXPECT_EQ(send(get(orders_path, bearer)).response.result_int(), 200u);
    model_->drop_brokerage();
    advance(5s);
    EXPECT_EQ(place(bearer, limit_order).reason, "no_bridge");
}

TEST_F(ibkr_model_test, places_an_order_and_lists_it) {
    const std::string bearer = trading_bearer();
    const auto r = place(bearer, limit_order);
    ASSERT_EQ(r.response.result_int(), 200u) << r.response.body();
    EXPECT_EQ(r.orders_changed, 0u);
    const auto answer = json_of(r).as_array();
    ASSERT_EQ(answer.size(), 1u);
    EXPECT_EQ(answer[0].at("order_status"), "Submitted");
    EXPECT_EQ(answer[0].at("encrypt_message"), "1");
    const std::string order_id(answer[0].at("order_id").as_string());

    const auto listed = body_of(send(get(orders_path, bearer)));
    EXPECT_EQ(listed.at("snapshot"), true);
    const auto orders = listed.at("orders").as_array();
    ASSERT_EQ(orders.size(), 1u);
    EXPECT_EQ(std::to_string(orders[0].at("orderId").as_int64()), order_id);
    EXPECT_EQ(orders[0].at("acct"), "DU1234567");
    EXPECT_EQ(orders[0].at("conid"), 265598);
    EXPECT_EQ(orders[0].at("side"), "BUY");
    EXPECT_EQ(orders[0].at("status"), "Submitted");
    EXPECT_EQ(orders[0].at("price"), "150.50");
    EXPECT_EQ(model_->counters().orders_placed, 1u);
}

TEST_F(ibkr_model_test, a_market_order_fills_and_shows_in_trades) {
    const std::string bearer = trading_bearer();
    ASSERT_EQ(place(bearer, market_order).response.result_int(), 200u);
    const auto trades = json_of(send(get("/v1/api/iserver/account/trades", bearer))).as_array();
    ASSERT_EQ(trades.size(), 1u);
    EXPECT_EQ(trades[0].at("conid"), 8314);
    EXPECT_EQ(trades[0].at("side"), "S");
    EXPECT_EQ(trades[0].at("size"), 3.0);
    const auto pnl = body_of(send(get("/v1/api/iserver/account/pnl/partitioned", bearer)));
    EXPECT_TRUE(pnl.at("upnl").as_object().contains("DU1234567.Core"));
}

TEST_F(ibkr_model_test, refuses_orders_for_unknown_accounts_and_malformed_orders) {
    configure_pacing(0, {});
    const std::string bearer = trading_bearer();
    const auto unknown = place(bearer, limit_order, "DU999");
    EXPECT_EQ(unknown.response.result_int(), 400u);
    EXPECT_EQ(unknown.reason, "unknown_account");
    EXPECT_EQ(body_of(unknown).at("error"), "Account DU999 not found");
    for (const std::string_view body :
         {R"(not json)", R"({"orders":[]})", R"({"orders":[{"conid":1,"orderType":"LMT","side":"BUY","quantity":1,"tif":"DAY"}]})",
          R"({"orders":[{"conid":1,"orderType":"MKT","side":"HOLD","quantity":1,"tif":"DAY"}]})",
          R"({"orders":[{"conid":1,"orderType":"MKT","side":"BUY","quantity":0,"tif":"DAY"}]})",
          R"({"orders":[{"conid":1,"orderType":"MKT","side":"BUY","quantity":1,"tif":"DAY","acctId":"DU2"}]})"}) {
        const auto r = place(bearer, body);
        EXPECT_EQ(r.response.result_int(), 400u) << body;
        EXPECT_EQ(r.reason, "order_rejected") << body;
        EXPECT_TRUE(body_of(r).at("error").is_string()) << body;
    }
    EXPECT_EQ(model_->orders(0).size(), 0u);
}

TEST_F(ibkr_model_test, a_repeated_customer_order_id_is_refused) {
    const std::string bearer = trading_bearer();
    ASSERT_EQ(place(bearer, limit_order).response.result_int(), 200u);
    const auto again = place(bearer, limit_order);
    EXPECT_EQ(again.response.result_int(), 400u);
    EXPECT_EQ(body_of(again).at("error"), "Local order ID=a1 is already registered.");
    EXPECT_EQ(model_->orders(0).size(), 1u);
}

TEST_F(ibkr_model_test, keeps_every_order_body_byte_exact_with_its_answer) {
    const std::string bearer = trading_bearer();
    const std::string spaced = "{ \"orders\" : [ {\"conid\":8314, \"orderType\":\"MKT\",\"side\":\"BUY\",\"quantity\":1,\"tif\":\"DAY\"} ] }\n";
    ASSERT_EQ(place(bearer, spaced).response.result_int(), 200u);
    ASSERT_EQ(place(bearer, limit_order, "DU999").response.result_int(), 400u);
    const auto& received = model_->order_bodies().received();
    ASSERT_EQ(received.size(), 2u);
    EXPECT_EQ(received[0].body, spaced);
    EXPECT_EQ(received[0].account, "DU1234567");
    EXPECT_EQ(received[0].status, 200u);
    EXPECT_EQ(received[1].body, limit_order);
    EXPECT_EQ(received[1].reason, "unknown_account");
    for (int i = 0; i < 300; ++i) place(bearer, "x");
    EXPECT_EQ(model_->order_bodies().received().size(), order_body_log::max_received_bodies);
}

TEST_F(ibkr_model_test, the_order_path_takes_only_post) {
    const std::string bearer = trading_bearer();
    const auto r = send(get("/v1/api/iserver/account/DU1234567/orders", bearer));
    EXPECT_EQ(r.response.result_int(), 405u);
    EXPECT_EQ(r.response[http::field::allow], "POST");
    EXPECT_EQ(send(get("/v1/api/iserver/account/DU1234567/x/orders", bearer)).response.result_int(), 404u);
}

TEST_F(ibkr_model_test, snapshot_answers_one_object_per_conid_with_the_fields_asked) {
    const std::string bearer = trading_bearer();
    const auto r = send(get(std::string(snapshot_path) + "?conids=265598,8314&fields=31,84,86,9999", bearer));
    ASSERT_EQ(r.response.result_int(), 200u) << r.response.body();
    const auto list = json_of(r).as_array();
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0].at("conid"), 265598);
    EXPECT_EQ(list[0].at("conidEx"), "265598");
    EXPECT_EQ(list[0].at("31").as_string(), format_price(last_price_cents(265598, now_)));
    EXPECT_TRUE(list[1].as_object().contains("84"));
    EXPECT_FALSE(list[1].as_object().contains("9999"));
    for (const std::string_view query : {"", "?conids=", "?conids=a", "?conids=1&fields=x"}) {
        const auto bad = send(get(std::string(snapshot_path) + std::string(query), bearer));
        EXPECT_EQ(bad.response.result_int(), 400u) << query;
        EXPECT_EQ(bad.reason, "snapshot_bad_query") << query;
    }
}

TEST_F(ibkr_model_test, snapshot_takes_10_per_second) {
    const std::string target = std::string(snapshot_path) + "?conids=1&fields=31";
    configure_pacing(0, {});
    const std::string fresh = trading_bearer();
    for (int i = 0; i < 10; ++i) ASSERT_EQ(send(get(target, fresh)).response.result_int(), 200u) << i;
    const auto over = send(get(target, fresh));
    EXPECT_EQ(over.response.result_int(), 429u);
    EXPECT_EQ(over.reason, "snapshot_rate_limited");
    EXPECT_EQ(body_of(over).at("error"), "Too Many Requests");
    advance(1s);
    EXPECT_EQ(send(get(target, fresh)).response.result_int(), 200u);
}

TEST_F(ibkr_model_test, orders_trades_pnl_and_portfolio_take_one_per_5_seconds_each) {
    configure_pacing(0, {});
    const std::string bearer = trading_bearer();
    const std::pair<std::string_view, std::string_view> paced[] = {
        {"/v1/api/iserver/account/orders", "orders_rate_limited"},
        {"/v1/api/iserver/account/trades", "trades_rate_limited"},
        {"/v1/api/iserver/account/pnl/partitioned", "pnl_rate_limited"},
        {"/v1/api/portfolio/accounts", "portfolio_accounts_rate_limited"},
        {"/v1/api/portfolio/subaccounts", "subaccounts_rate_limited"},
    };
    for (const auto& [path, reason] : paced) {
        ASSERT_EQ(send(get(path, bearer)).response.result_int(), 200u) << path;
        const auto over = send(get(path, bearer));
        EXPECT_EQ(over.response.result_int(), 429u) << path;
        EXPECT_EQ(over.reason, reason);
    }
    advance(4999ms);
    EXPECT_EQ(send(get(orders_path, bearer)).reason, "orders_rate_limited");
    advance(1ms);
    for (const auto& [path, reason] : paced) EXPECT_EQ(send(get(path, bearer)).response.result_int(), 200u) << path;
}

TEST_F(ibkr_model_test, an_endpoint_429_closes_the_penalty_box) {
    configure_pacing(0, 600s);
    const std::string bearer = trading_bearer();
    ASSERT_EQ(send(get(orders_path, bearer)).response.result_int(), 200u);
    ASSERT_EQ(send(get(orders_path, bearer)).reason, "orders_rate_limited");
    EXPECT_EQ(tickle(bearer).reason, "penalty_box");
}

TEST_F(ibkr_model_test, endpoint_limits_sit_on_top_of_the_request_rate) {
    configure_pacing(2, {});
    const std::string bearer = sso_bearer();  // token + sso: the window is full
    EXPECT_EQ(send(get("/v1/api/portfolio/accounts", bearer)).reason, "global_rate_limited");
}

TEST_F(ibkr_model_test, endpoint_limits_can_be_lifted_for_benchmarks) {
    auto c = default_config();
    c.max_requests_per_second = 0;
    c.endpoint_limits = false;
    configure(c);
    const std::string bearer = trading_bearer();
    for (int i = 0; i < 20; ++i) ASSERT_EQ(send(get(orders_path, bearer)).response.result_int(), 200u) << i;
}

TEST_F(ibkr_model_test, history_answers_period_over_bar_bars_in_ibkr_shape) {
    configure_pacing(0, {});
    const std::string bearer = trading_bearer();
    const auto r = send(get("/v1/api/iserver/marketdata/history?conid=265598&period=2d&bar=1h", bearer));
    ASSERT_EQ(r.response.result_int(), 200u) << r.response.body();
    EXPECT_TRUE(r.history_slot.has_value());
    model_->release_history_slot(0);
    const auto body = body_of(r);
    const auto data = body.at("data").as_array();
    ASSERT_EQ(data.size(), 48u);
    for (const std::string_view key : {"o", "c", "h", "l", "v", "t"}) EXPECT_TRUE(data[0].as_object().contains(key));
    EXPECT_EQ(data[1].at("t").as_int64() - data[0].at("t").as_int64(), 3'600'000);
    EXPECT_EQ(body.at("timePeriod"), "2d");
    EXPECT_EQ(body.at("barLength"), 3600);
    for (const std::string_view q : {"conid=x&period=1d&bar=1h", "conid=1&period=1q&bar=1h", "conid=1&period=1d&bar=1y"}) {
        const auto bad = send(get("/v1/api/iserver/marketdata/history?" + std::string(q), bearer));
        EXPECT_EQ(bad.response.result_int(), 400u) << q;
        EXPECT_EQ(bad.reason, "history_bad_query");
        EXPECT_FALSE(bad.history_slot.has_value());
    }
}

TEST_F(ibkr_model_test, history_can_be_asked_for_a_body_of_several_mebibytes_and_caps_its_bars) {
    configure_pacing(0, {});
    const std::string bearer = trading_bearer();
    const auto r = send(get("/v1/api/iserver/marketdata/history?conid=1&period=100d&bar=1min", bearer));
    ASSERT_EQ(r.response.result_int(), 200u);
    model_->release_history_slot(0);
    EXPECT_EQ(body_of(r).at("data").as_array().size(), max_history_bars);
    EXPECT_GT(r.response.body().size(), 3u * 1024 * 1024);
}

TEST_F(ibkr_model_test, history_takes_5_concurrent_requests) {
    configure_pacing(0, {});
    const std::string bearer = trading_bearer();
    const std::string target = "/v1/api/iserver/marketdata/history?conid=1&period=1d&bar=1h";
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(send(get(target, bearer)).history_slot.has_value()) << i;
    const auto sixth = send(get(target, bearer));
    EXPECT_EQ(sixth.response.result_int(), 429u);
    EXPECT_EQ(sixth.reason, "history_concurrency_limited");
    EXPECT_EQ(model_->history_in_flight(), 5u);
    model_->release_history_slot(0);
    EXPECT_EQ(send(get(target, bearer)).response.result_int(), 200u);
    EXPECT_EQ(model_->history_max_in_flight(), 5u);
}

// ---------------------------------------------------------------- WebSocket upgrade

TEST_F(ibkr_model_test, grants_a_websocket_with_the_bearer_in_the_query_and_the_session_cookie) {
    const std::string bearer = trading_bearer();
    const std::string session = session_token(bearer);
    const auto r = send(websocket_upgrade("/v1/api/ws?bearer_token=" + bearer, "x=1; api=" + session));
    ASSERT_TRUE(r.websocket.has_value()) << r.response.body();
    EXPECT_EQ(r.websocket->bearer, bearer);
    EXPECT_EQ(r.websocket->session_token, session);
    EXPECT_EQ(r.response.result_int(), 101u);
    EXPECT_TRUE(r.reason.empty());
    EXPECT_EQ(model_->counters().websockets_accepted, 1u);
}

TEST_F(ibkr_model_test, refuses_a_websocket_upgrade_without_both_credentials) {
    configure_pacing(0, {});
    const std::string bearer = trading_bearer();
    const std::string session = session_token(bearer);
    const struct {
        std::string target;
        std::string cookie;
        std::string_view reason;
    } cases[] = {
        {"/v1/api/ws", "api=" + session, "missing_bearer"},
        {"/v1/api/ws?bearer_token=nope", "api=" + session, "unknown_bearer"},
        {"/v1/api/ws?bearer_token=" + bearer, "", "websocket_missing_api_cookie"},
        {"/v1/api/ws?bearer_token=" + bearer, "api=other", "websocket_wrong_api_cookie"},
        {"/v1/api/ws?bearer_token=" + bearer, "api={\"session\":\"" + session + "\"}", "websocket_wrong_api_cookie"},
    };
    for (const auto& c : cases) {
        const auto r = send(websocket_upgrade(c.target, c.cookie));
        EXPECT_FALSE(r.websocket.has_value()) << c.reason;
        EXPECT_EQ(r.response.result_int(), 401u) << c.reason;
        EXPECT_EQ(r.reason, c.reason);
        EXPECT_EQ(body_of(r).at("statusCode"), 401);
    }
    // An Authorization header does not stand in for the query (no IBKR sample sends one on the upgrade).
    auto with_header = websocket_upgrade("/v1/api/ws", "api=" + session);
    with_header.set(http::field::authorization, "Bearer " + bearer);
    EXPECT_EQ(send(with_header).reason, "missing_bearer");
    const auto plain = send(get("/v1/api/ws?bearer_token=" + bearer));
    EXPECT_EQ(plain.response.result_int(), 400u);
    EXPECT_EQ(plain.reason, "websocket_not_upgrade");
}

TEST_F(ibkr_model_test, a_websocket_bearer_stops_being_active_with_its_session) {
    const std::string bearer = sso_bearer();
    EXPECT_TRUE(model_->sso_bearer_active(bearer, now_));
    model_->expire_sessions();
    EXPECT_FALSE(model_->sso_bearer_active(bearer, now_));
}

}  // namespace
}  // namespace sessiond::sim
