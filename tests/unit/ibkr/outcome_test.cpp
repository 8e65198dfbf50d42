#include "sessiond/ibkr/outcome.hpp"

#include "sessiond/core/secret.hpp"

#include <boost/beast/http/field.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>
#include <string_view>

namespace sessiond {
namespace {

namespace http = boost::beast::http;
using namespace std::chrono_literals;

const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1760000000));

http_response response(unsigned status, std::string body, std::string_view content_type = "application/json") {
    http_response res;
    res.version(11);
    res.result(status);
    if (!content_type.empty()) res.set(http::field::content_type, content_type);
    res.body() = std::move(body);
    return res;
}

constexpr std::string_view healthy_tickle =
    R"({"session":"bb665d0f","ssoExpires":460311,"collission":false,"userId":123456789,"hmds":{"error":"no bridge"},)"
    R"("iserver":{"authStatus":{"authenticated":true,"competing":false,"connected":true,"message":"",)"
    R"("serverInfo":{"serverName":"JifN19053","serverVersion":"Build 10.25.0p"}}}})";

// ---- success ----

TEST(ibkr_outcome, oauth_200_carries_the_token) {
    const auto o = interpret_response(
        step::oauth,
        response(200, R"({"access_token":"oauth-token-from-outcome","token_type":"Bearer","scope":"sso-sessions.write","expires_in":86399})"),
        now);
    ASSERT_TRUE(o.ok()) << o.detail;
    EXPECT_EQ(o.which, step::oauth);
    EXPECT_EQ(o.http_status, 200);
    ASSERT_TRUE(o.token);
    EXPECT_EQ(o.token->access_token.reveal(), "oauth-token-from-outcome");
    EXPECT_EQ(o.token->expires_in, 86399s);
    EXPECT_FALSE(o.sso);
    EXPECT_FALSE(o.tickle);
}

TEST(ibkr_outcome, sso_200_carries_the_bearer) {
    const auto o = interpret_response(step::sso, response(200, R"({"access_token":"sso-bearer-outcome","active":true,"token_type":"Bearer"})"), now);
    ASSERT_TRUE(o.ok()) << o.detail;
    ASSERT_TRUE(o.sso);
    EXPECT_EQ(o.sso->access_token.reveal(), "sso-bearer-outcome");
}

TEST(ibkr_outcome, sso_session_created_inactive_is_refused_and_its_bearer_dropped) {
    const auto o = interpret_response(step::sso, response(200, R"({"access_token":"sso-bearer-inactive","active":false})"), now);
    EXPECT_EQ(o.kind, failure::rejected);
    EXPECT_EQ(o.detail, "IBKR created the SSO session as not active");
    EXPECT_FALSE(o.sso);
}

TEST(ibkr_outcome, validate_200_carries_the_validation) {
    const auto o = interpret_response(step::validate, response(200, R"({"RESULT":true,"LOGIN_TYPE":1,"EXPIRES":415890})"), now);
    ASSERT_TRUE(o.ok()) << o.detail;
    ASSERT_TRUE(o.validation);
    EXPECT_EQ(o.validation->login_type, ibkr_environment::live);
}

TEST(ibkr_outcome, init_200_carries_the_brokerage_status) {
    const auto o = interpret_response(
        step::init, response(200, R"({"authenticated":true,"competing":false,"connected":true,"message":"","MAC":"98:F2:B3:23:BF:A0"})"), now);
    ASSERT_TRUE(o.ok()) << o.detail;
    ASSERT_TRUE(o.brokerage);
    EXPECT_TRUE(o.brokerage->healthy());
}

TEST(ibkr_outcome, accounts_200_carries_the_list) {
    const auto o = interpret_response(step::accounts, response(200, R"({"accounts":["U1234567"],"selectedAccount":"U1234567"})"), now);
    ASSERT_TRUE(o.ok()) << o.detail;
    ASSERT_TRUE(o.accounts);
    EXPECT_EQ(o.accounts->accounts, std::vector<std::string>{"U1234567"});
}

TEST(ibkr_outcome, tickle_200_carries_the_report) {
    const auto o = interpret_response(step::tickle, response(200, std::string(healthy_tickle)), now);
    ASSERT_TRUE(o.ok()) << o.detail;
    ASSERT_TRUE(o.tickle);
    EXPECT_EQ(o.tickle->sso_expires, 460311ms);
    ASSERT_TRUE(o.tickle->brokerage);
    EXPECT_TRUE(o.tickle->brokerage->healthy());
}

TEST(ibkr_outcome, tickle_200_error_reply_is_passed_on_as_not_processed) {
    const auto o = interpret_response(step::tickle, response(200, R"({"error":"Bad Request: no bridge"})"), now);
    ASSERT_TRUE(o.ok()) << o.detail;  // the session machine decides; the report says why
    ASSERT_TRUE(o.tickle);
    EXPECT_EQ(o.tickle->not_processed, "Bad Request: no bridge");
}

TEST(ibkr_outcome, other_2xx_statuses_are_success_too) {
    const auto o = interpret_response(step::tickle, response(202, std::string(healthy_tickle)), now);
    EXPECT_TRUE(o.ok()) << o.detail;
    EXPECT_EQ(o.http_status, 202);
}

// ---- JSON content types ----

TEST(ibkr_outcome, json_content_type_may_carry_parameters_and_any_case) {
    for (const char* type : {"application/json", "application/json; charset=utf-8", "application/json;charset=UTF-8",
                             "Application/JSON", "application/json ; charset=utf-8", "application/problem+json",
                             "application/vnd.ibkr+json; charset=utf-8"}) {
        SCOPED_TRACE(type);
        const auto o = interpret_response(step::tickle, response(200, std::string(healthy_tickle), type), now);
        EXPECT_TRUE(o.ok()) << o.detail;
    }
}

TEST(ibkr_outcome, html_on_200_is_a_bad_response) {
    const auto o = interpret_response(
        step::tickle, response(200, "<html><body>Please log in to the captive portal</body></html>", "text/html; charset=utf-8"), now);
    EXPECT_EQ(o.kind, failure::bad_response);
    EXPECT_EQ(o.http_status, 200);
    EXPECT_EQ(o.detail, "unexpected Content-Type \"text/html; charset=utf-8\" (expected JSON)");
    EXPECT_FALSE(o.tickle);
}

TEST(ibkr_outcome, json_lookalike_content_types_are_bad_responses) {
    for (const char* type : {"text/plain", "text/json", "application/jsonp", "application/json-seq", "application/jwt",
                             "application/x-www-form-urlencoded"}) {
        SCOPED_TRACE(type);
        const auto o = interpret_response(step::tickle, response(200, std::string(healthy_tickle), type), now);
        EXPECT_EQ(o.kind, failure::bad_response);
    }
}

TEST(ibkr_outcome, missing_content_type_on_200_is_a_bad_response) {
    const auto o = interpret_response(step::validate, response(200, R"({"RESULT":true})", ""), now);
    EXPECT_EQ(o.kind, failure::bad_response);
    EXPECT_EQ(o.detail, "response has no Content-Type (expected JSON)");
}

TEST(ibkr_outcome, long_content_type_is_cut_in_the_detail) {
    const std::string type = "text/html; " + std::string(500, 'x');
    const auto o = interpret_response(step::tickle, response(200, "<html/>", type), now);
    EXPECT_EQ(o.kind, failure::bad_response);
    EXPECT_LT(o.detail.size(), 120u);
}

TEST(ibkr_outcome, missing_fields_on_200_are_a_bad_response_naming_the_field) {
    struct probe {
        step s;
        const char* body;
        const char* detail;
    };
    for (const auto& p : {probe{step::oauth, R"({"token_type":"Bearer"})", "response has no usable \"access_token\""},
                          probe{step::sso, R"({"active":true})", "response has no usable \"access_token\""},
                          probe{step::validate, R"({"EXPIRES":1})", "response has no usable \"RESULT\""},
                          probe{step::init, R"({"message":"x"})", "response has no usable \"authenticated\""},
                          probe{step::accounts, R"({"selectedAccount":"U1"})", "response has no usable \"accounts\""},
                          probe{step::tickle, R"({"session":"x"})", "response has no usable \"iserver.authStatus\""}}) {
        SCOPED_TRACE(std::string(to_string(p.s)));
        const auto o = interpret_response(p.s, response(200, p.body), now);
        EXPECT_EQ(o.kind, failure::bad_response);
        EXPECT_EQ(o.detail, p.detail);
        EXPECT_EQ(o.http_status, 200);
    }
}

TEST(ibkr_outcome, unusable_json_on_200_is_a_bad_response) {
    for (const char* body : {"", "[]", "null", "{\"RESULT\":", "not json"}) {
        SCOPED_TRACE(body);
        const auto o = interpret_response(step::validate, response(200, body), now);
        EXPECT_EQ(o.kind, failure::bad_response);
        EXPECT_FALSE(o.detail.empty());
        EXPECT_FALSE(o.validation);
    }
}

// ---- logout ----

TEST(ibkr_outcome, logout_2xx_succeeds_whatever_the_body) {
    for (const auto& [body, type] : {std::pair<const char*, const char*>{R"({"status":true})", "application/json"},
                                     {R"({"status":false})", "application/json"},
                                     {"<html>bye</html>", "text/html"},
                                     {"", ""},
                                     {"not json", "application/json"}}) {
        SCOPED_TRACE(body);
        const auto o = interpret_response(step::logout, response(200, body, type), now);
        EXPECT_TRUE(o.ok()) << o.detail;
        EXPECT_EQ(o.which, step::logout);
    }
}

TEST(ibkr_outcome, logout_401_is_still_reported_as_unauthorized) {
    const auto o = interpret_response(step::logout, response(401, R"({"error":"not authenticated","statusCode":401})"), now);
    EXPECT_EQ(o.kind, failure::unauthorized);
    EXPECT_EQ(o.detail, "not authenticated");
}

// ---- status classes ----

TEST(ibkr_outcome, status_classes_map_to_failures) {
    const std::pair<unsigned, failure> table[] = {
        {400, failure::rejected},     {401, failure::unauthorized}, {403, failure::forbidden},
        {404, failure::rejected},     {405, failure::rejected},     {410, failure::rejected},
        {411, failure::rejected},     {418, failure::rejected},     {429, failure::rate_limited},
        {500, failure::server_error}, {502, failure::server_error}, {503, failure::server_error},
        {504, failure::server_error}, {599, failure::server_error}, {301, failure::rejected},
        {302, failure::rejected},     {304, failure::rejected},     {101, failure::rejected},
    };
    for (const auto& [status, kind] : table) {
        for (const step s : all_steps) {
            SCOPED_TRACE(std::to_string(status) + " " + std::string(to_string(s)));
            const auto o = interpret_response(s, response(status, R"({"error":"x"})"), now);
            EXPECT_EQ(o.kind, kind);
            EXPECT_EQ(o.http_status, static_cast<int>(status));
            EXPECT_EQ(o.which, s);
            EXPECT_FALSE(o.token || o.sso || o.validation || o.brokerage || o.tickle || o.accounts);
        }
    }
}

TEST(ibkr_outcome, unauthorized_detail_comes_from_the_body) {
    const auto o = interpret_response(step::tickle, response(401, R"({"error":"Invalid or expired access token"})"), now);
    EXPECT_EQ(o.kind, failure::unauthorized);
    EXPECT_EQ(o.detail, "Invalid or expired access token");
}

TEST(ibkr_outcome, problem_details_error_is_described) {
    const auto o = interpret_response(
        step::sso,
        response(400, R"({"type":"about:blank","title":"Bad Request","status":400,"detail":"Invalid payload for security policy: SIGNED_JWT"})",
                 "application/problem+json"),
        now);
    EXPECT_EQ(o.kind, failure::rejected);
    EXPECT_EQ(o.detail, "Bad Request: Invalid payload for security policy: SIGNED_JWT");
}

TEST(ibkr_outcome, init_500_detail_carries_the_server_reason) {
    const auto o = interpret_response(step::init, response(500, R"({"error":"failed to generate sso dh token"})"), now);
    EXPECT_EQ(o.kind, failure::server_error);
    EXPECT_EQ(o.detail, "failed to generate sso dh token");
}

TEST(ibkr_outcome, error_status_with_html_body_is_described_bounded) {
    const auto o = interpret_response(step::tickle, response(503, "<html>" + std::string(5000, 'x') + "</html>", "text/html"), now);
    EXPECT_EQ(o.kind, failure::server_error);
    EXPECT_LE(o.detail.size(), 203u);
}

TEST(ibkr_outcome, error_body_echoing_a_live_secret_is_redacted_in_the_detail) {
    const secret bearer(std::string("sso-bearer-echoed-by-a-proxy-4410"));
    const auto o = interpret_response(step::tickle, response(401, "token sso-bearer-echoed-by-a-proxy-4410 refused", "text/plain"), now);
    EXPECT_EQ(o.detail, "token [redacted] refused");
}

TEST(ibkr_outcome, redirect_is_rejected_as_unexpected) {
    auto res = response(302, "<html>moved</html>", "text/html");
    res.set(http::field::location, "https://login.example/");
    const auto o = interpret_response(step::tickle, res, now);
    EXPECT_EQ(o.kind, failure::rejected);
    EXPECT_EQ(o.detail, "unexpected redirect");
}

// ---- Retry-After ----

TEST(ibkr_outcome, rate_limit_reads_retry_after_seconds) {
    auto res = response(429, R"({"error":"Too many requests"})");
    res.set(http::field::retry_after, "600");
    const auto o = interpret_response(step::tickle, res, now);
    EXPECT_EQ(o.kind, failure::rate_limited);
    EXPECT_EQ(o.retry_after, 600s);
}

TEST(ibkr_outcome, unavailable_reads_retry_after_date) {
    auto res = response(503, "", "");
    // 2025-10-09T08:53:20Z is 1760000000; two minutes later:
    res.set(http::field::retry_after, "Thu, 09 Oct 2025 08:55:20 GMT");
    const auto o = interpret_response(step::init, res, now);
    EXPECT_EQ(o.kind, failure::server_error);
    EXPECT_EQ(o.retry_after, 120s);
}

TEST(ibkr_outcome, rate_limit_without_retry_after_has_none) {
    EXPECT_FALSE(interpret_response(step::tickle, response(429, ""), now).retry_after);
}

TEST(ibkr_outcome, unreadable_retry_after_is_ignored) {
    auto res = response(429, "");
    res.set(http::field::retry_after, "later please");
    const auto o = interpret_response(step::tickle, res, now);
    EXPECT_EQ(o.kind, failure::rate_limited);
    EXPECT_FALSE(o.retry_after);
}

TEST(ibkr_outcome, retry_after_on_success_is_ignored) {
    auto res = response(200, std::string(healthy_tickle));
    res.set(http::field::retry_after, "60");
    const auto o = interpret_response(step::tickle, res, now);
    EXPECT_TRUE(o.ok());
    EXPECT_FALSE(o.retry_after);
}

// ---- failed_outcome and names ----

TEST(ibkr_outcome, failed_outcome_carries_what_it_was_given) {
    const auto o = failed_outcome(step::accounts, failure::timeout, "no answer within 10 s", 0);
    EXPECT_EQ(o.which, step::accounts);
    EXPECT_EQ(o.kind, failure::timeout);
    EXPECT_EQ(o.detail, "no answer within 10 s");
    EXPECT_EQ(o.http_status, 0);
    EXPECT_FALSE(o.ok());
    EXPECT_EQ(failed_outcome(step::tickle, failure::not_processed, "x", 200).http_status, 200);
}

TEST(ibkr_outcome, every_failure_has_a_distinct_name) {
    std::set<std::string_view> names{to_string(failure::none)};
    for (const failure f : all_failures) {
        EXPECT_NE(to_string(f), "unknown");
        names.insert(to_string(f));
    }
    EXPECT_EQ(names.size(), all_failures.size() + 1);
    EXPECT_EQ(to_string(failure::rate_limited), "rate_limited");
    EXPECT_EQ(to_string(failure::bad_response), "bad_response");
}

// ---- troubleshooting hints ----

TEST(ibkr_outcome, oauth_refusal_hints_at_client_id_key_and_clock) {
    for (const failure f : {failure::unauthorized, failure::forbidden, failure::rejected}) {
        const auto hint = troubleshooting_hint(step::oauth, f, 400);
        EXPECT_NE(hint.find("IBKR_CLIENT_ID"), std::string_view::npos);
        EXPECT_NE(hint.find("NTP"), std::string_view::npos);
    }
}

TEST(ibkr_outcome, sso_refusal_hints_at_credential_and_allowed_ip) {
    for (const failure f : {failure::unauthorized, failure::forbidden}) {
        const auto hint = troubleshooting_hint(step::sso, f, 403);
        EXPECT_NE(hint.find("IBKR_CREDENTIAL"), std::string_view::npos);
        EXPECT_NE(hint.find("IBKR_ALLOWED_IP"), std::string_view::npos);
    }
    EXPECT_EQ(troubleshooting_hint(step::sso, failure::rejected, 400),
              "SSO request refused: check IBKR_CREDENTIAL and IBKR_ALLOWED_IP");
}

TEST(ibkr_outcome, tls_failure_hints_at_base_url_and_ca_file_on_every_step) {
    for (const step s : all_steps) {
        const auto hint = troubleshooting_hint(s, failure::tls, 0);
        EXPECT_NE(hint.find("IBKR_CA_FILE"), std::string_view::npos) << to_string(s);
    }
}

TEST(ibkr_outcome, not_found_hints_at_base_url) {
    EXPECT_EQ(troubleshooting_hint(step::tickle, failure::rejected, 404), "endpoint not found: check IBKR_BASE_URL");
    EXPECT_EQ(troubleshooting_hint(step::sso, failure::rejected, 404), "endpoint not found: check IBKR_BASE_URL");
}

TEST(ibkr_outcome, transient_failures_have_no_hint) {
    for (const step s : all_steps)
        for (const failure f : {failure::none, failure::server_error, failure::timeout, failure::transport,
                                failure::rate_limited, failure::cancelled, failure::not_processed})
            EXPECT_TRUE(troubleshooting_hint(s, f, 503).empty()) << to_string(s) << " " << to_string(f);
    EXPECT_TRUE(troubleshooting_hint(step::tickle, failure::unauthorized, 401).empty());
    EXPECT_TRUE(troubleshooting_hint(step::init, failure::rejected, 410).empty());
}

}  // namespace
}  // namespace sessiond
