#include "sessiond/ibkr/responses.hpp"

#include "sessiond/core/secret.hpp"
#include "sessiond/log/redact.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <string>
#include <string_view>

namespace sessiond {
namespace {

using namespace std::chrono_literals;

// Remote text that reaches logs and the status page: one line, printable, at most 200 characters
// plus an ellipsis.
::testing::AssertionResult bounded_and_printable(std::string_view text) {
    if (text.size() > 203) return ::testing::AssertionFailure() << "too long (" << text.size() << "): " << text;
    for (char c : text)
        if (std::isprint(static_cast<unsigned char>(c)) == 0)
            return ::testing::AssertionFailure() << "non-printable byte " << static_cast<int>(static_cast<unsigned char>(c));
    return ::testing::AssertionSuccess();
}

bool contains(std::string_view hay, std::string_view needle) { return hay.find(needle) != std::string_view::npos; }

// Tickle success as the OpenAPI spec shows it (values from the spec example).
constexpr std::string_view tickle_healthy = R"({
  "session": "bb665d0f55b6289d70bc4e9f9d7d6a59",
  "ssoExpires": 460311,
  "collission": false,
  "userId": 123456789,
  "hmds": {"error": "no bridge"},
  "iserver": {"authStatus": {
    "authenticated": true, "competing": false, "connected": true, "established": true,
    "message": "", "MAC": "F4:03:43:DC:90:80",
    "serverInfo": {"serverName": "JifN19053", "serverVersion": "Build 10.25.0p, Dec 5, 2023 5:48:12 PM"}
  }}
})";

constexpr std::string_view validate_paper = R"({
  "USER_ID": 123456789, "USER_NAME": "user1234", "RESULT": true, "AUTH_TIME": 1702580846836,
  "SF_ENABLED": false, "IS_FREE_TRIAL": false, "CREDENTIAL": "user1234", "IP": "12.345.678.901",
  "EXPIRES": 415890, "QUALIFIED_FOR_MOBILE_AUTH": null, "LANDING_APP": "UNIVERSAL", "IS_MASTER": false,
  "lastAccessed": 1702581069652, "LOGIN_TYPE": 2, "PAPER_USER_NAME": "user1234",
  "features": {"env": "PROD", "wlms": true, "realtime": true, "bond": true, "optionChains": true,
               "calendar": true, "newMf": true},
  "region": "NJ"
})";

constexpr std::string_view init_response = R"({
  "authenticated": true, "competing": false, "connected": true, "established": false,
  "message": "", "fail": "", "MAC": "98:F2:B3:23:BF:A0", "hardware_info": "20d5f0e5|98:F2:B3:23:BF:A0",
  "serverInfo": {"serverName": "JifN19053", "serverVersion": "Build 10.25.0p, Dec 5, 2023 5:48:12 PM"}
})";

constexpr std::string_view accounts_response = R"({
  "accounts": ["U1234567", "U7654321"],
  "acctProps": {"U1234567": {"hasChildAccounts": false, "supportsCashQty": true}},
  "aliases": {"U1234567": "U1234567", "U7654321": "Savings"},
  "allowFeatures": {"showGFIS": true},
  "groups": [], "profiles": [],
  "selectedAccount": "U1234567",
  "serverInfo": {"serverName": "JifN19053", "serverVersion": "Build 10.25.0p"},
  "sessionId": "65dcd2e1.00000084", "isFT": false, "isPaper": false
})";

// ---- OAuth token (step 1) ----

TEST(ibkr_responses, oauth_token_reads_access_token_and_expires_in) {
    const auto t = parse_oauth_token(
        R"({"access_token":"oauth-token-value-1","token_type":"Bearer","scope":"sso-sessions.write","expires_in":86399})");
    ASSERT_TRUE(t) << t.error().message;
    EXPECT_EQ(t->access_token.reveal(), "oauth-token-value-1");
    EXPECT_EQ(t->expires_in, 86399s);
}

TEST(ibkr_responses, oauth_token_type_is_case_insensitive_and_optional) {
    EXPECT_TRUE(parse_oauth_token(R"({"access_token":"abc","token_type":"bearer"})"));
    EXPECT_TRUE(parse_oauth_token(R"({"access_token":"abc"})"));
}

TEST(ibkr_responses, oauth_token_of_another_type_is_refused) {
    const auto t = parse_oauth_token(R"({"access_token":"abc","token_type":"MAC"})");
    ASSERT_FALSE(t);
    EXPECT_EQ(t.error().message, "token_type is not Bearer");
}

TEST(ibkr_responses, oauth_token_without_expires_in_reports_zero) {
    EXPECT_EQ(parse_oauth_token(R"({"access_token":"abc"})")->expires_in, 0s);
    EXPECT_EQ(parse_oauth_token(R"({"access_token":"abc","expires_in":"86399"})")->expires_in, 0s);
}

TEST(ibkr_responses, oauth_token_with_negative_expires_in_reports_zero) {
    EXPECT_EQ(parse_oauth_token(R"({"access_token":"abc","expires_in":-5})")->expires_in, 0s);
}

TEST(ibkr_responses, oauth_token_without_usable_access_token_names_the_field) {
    for (const char* body : {R"({"token_type":"Bearer"})", R"({"access_token":""})", R"({"access_token":42})",
                             R"({"access_token":null})", R"({"access_token":["x"]})"}) {
        SCOPED_TRACE(body);
        const auto t = parse_oauth_token(body);
        ASSERT_FALSE(t);
        EXPECT_EQ(t.error().message, "response has no usable \"access_token\"");
    }
}

TEST(ibkr_responses, oauth_access_token_is_a_live_secret) {
    const auto t = parse_oauth_token(R"({"access_token":"oauth-live-secret-7781","token_type":"Bearer"})");
    ASSERT_TRUE(t);
    EXPECT_EQ(redact("sent oauth-live-secret-7781"), "sent [redacted]");
}

// ---- SSO grant (step 2) ----

TEST(ibkr_responses, sso_grant_reads_bearer_and_active) {
    const auto g = parse_sso_grant(R"({"access_token":"sso-bearer-0042","active":false,"token_type":"Bearer"})");
    ASSERT_TRUE(g) << g.error().message;
    EXPECT_EQ(g->access_token.reveal(), "sso-bearer-0042");
    EXPECT_FALSE(g->active);
}

TEST(ibkr_responses, sso_grant_without_active_is_taken_as_active) {
    EXPECT_TRUE(parse_sso_grant(R"({"access_token":"sso-bearer-0043"})")->active);
    EXPECT_TRUE(parse_sso_grant(R"({"access_token":"sso-bearer-0043","active":"false"})")->active);
}

TEST(ibkr_responses, sso_grant_without_access_token_names_the_field) {
    const auto g = parse_sso_grant(R"({"active":true,"token_type":"Bearer"})");
    ASSERT_FALSE(g);
    EXPECT_EQ(g.error().message, "response has no usable \"access_token\"");
}

// ---- /sso/validate ----

TEST(ibkr_responses, validate_reads_result_login_type_and_expires) {
    const auto v = parse_sso_validation(validate_paper);
    ASSERT_TRUE(v) << v.error().message;
    EXPECT_TRUE(v->result);
    EXPECT_EQ(v->login_type, ibkr_environment::paper);
    EXPECT_EQ(v->expires, 415890ms);
}

TEST(ibkr_responses, validate_login_type_1_is_live) {
    EXPECT_EQ(parse_sso_validation(R"({"RESULT":true,"LOGIN_TYPE":1})")->login_type, ibkr_environment::live);
}

TEST(ibkr_responses, validate_falls_back_to_camel_case_login_type) {
    EXPECT_EQ(parse_sso_validation(R"({"RESULT":true,"loginType":1})")->login_type, ibkr_environment::live);
    EXPECT_EQ(parse_sso_validation(R"({"RESULT":true,"loginType":2})")->login_type, ibkr_environment::paper);
    // LOGIN_TYPE of the wrong type is as good as absent.
    EXPECT_EQ(parse_sso_validation(R"({"RESULT":true,"LOGIN_TYPE":"1","loginType":2})")->login_type,
              ibkr_environment::paper);
}

TEST(ibkr_responses, validate_upper_case_login_type_wins_over_camel_case) {
    EXPECT_EQ(parse_sso_validation(R"({"RESULT":true,"LOGIN_TYPE":1,"loginType":2})")->login_type,
              ibkr_environment::live);
}

TEST(ibkr_responses, validate_unknown_login_type_reports_none) {
    for (const char* body : {R"({"RESULT":true})", R"({"RESULT":true,"LOGIN_TYPE":3})", R"({"RESULT":true,"LOGIN_TYPE":0})",
                             R"({"RESULT":true,"LOGIN_TYPE":-1})", R"({"RESULT":true,"LOGIN_TYPE":1.5})",
                             R"({"RESULT":true,"LOGIN_TYPE":"live"})"}) {
        SCOPED_TRACE(body);
        const auto v = parse_sso_validation(body);
        ASSERT_TRUE(v);
        EXPECT_FALSE(v->login_type);
    }
}

TEST(ibkr_responses, validate_result_false_is_parsed_not_refused) {
    const auto v = parse_sso_validation(R"({"RESULT":false,"EXPIRES":0})");
    ASSERT_TRUE(v);
    EXPECT_FALSE(v->result);
    EXPECT_EQ(v->expires, 0ms);
}

TEST(ibkr_responses, validate_without_boolean_result_names_the_field) {
    for (const char* body : {R"({"EXPIRES":415890})", R"({"RESULT":"true"})", R"({"RESULT":1})", R"({"result":true})"}) {
        SCOPED_TRACE(body);
        const auto v = parse_sso_validation(body);
        ASSERT_FALSE(v);
        EXPECT_EQ(v.error().message, "response has no usable \"RESULT\"");
    }
}

TEST(ibkr_responses, validate_negative_or_malformed_expires_reports_none) {
    for (const char* body : {R"({"RESULT":true,"EXPIRES":-1})", R"({"RESULT":true,"EXPIRES":"415890"})",
                             R"({"RESULT":true,"EXPIRES":1.5})", R"({"RESULT":true,"EXPIRES":1e400})"}) {
        SCOPED_TRACE(body);
        EXPECT_FALSE(parse_sso_validation(body)->expires);
    }
}

TEST(ibkr_responses, validate_expires_in_exponent_notation_is_read) {
    EXPECT_EQ(parse_sso_validation(R"({"RESULT":true,"EXPIRES":4.6E5})")->expires, 460000ms);
}

// ---- ssodh/init and auth/status ----

TEST(ibkr_responses, init_response_reads_every_status_field) {
    const auto s = parse_brokerage_status(init_response);
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_TRUE(s->authenticated);
    EXPECT_TRUE(s->connected);
    EXPECT_FALSE(s->competing);
    EXPECT_EQ(s->established, false);
    EXPECT_EQ(s->server_name, "JifN19053");
    EXPECT_EQ(s->server_version, "Build 10.25.0p, Dec 5, 2023 5:48:12 PM");
    EXPECT_TRUE(s->healthy());
}

TEST(ibkr_responses, brokerage_status_is_healthy_only_when_authenticated_connected_and_not_competing) {
    brokerage_status s;
    s.authenticated = true;
    s.connected = true;
    EXPECT_TRUE(s.healthy());
    s.competing = true;
    EXPECT_FALSE(s.healthy());
    s.competing = false;
    s.connected = false;
    EXPECT_FALSE(s.healthy());
    s.connected = true;
    s.authenticated = false;
    EXPECT_FALSE(s.healthy());
}

TEST(ibkr_responses, init_response_reads_competing_and_failure_text) {
    const auto s = parse_brokerage_status(
        R"({"authenticated":false,"competing":true,"connected":true,"message":"competing session","fail":"Another session"})");
    ASSERT_TRUE(s);
    EXPECT_TRUE(s->competing);
    EXPECT_FALSE(s->healthy());
    EXPECT_EQ(s->message, "competing session");
    EXPECT_EQ(s->fail, "Another session");
}

TEST(ibkr_responses, init_response_with_only_connected_is_accepted_as_not_authenticated) {
    const auto s = parse_brokerage_status(R"({"connected":true})");
    ASSERT_TRUE(s);
    EXPECT_FALSE(s->authenticated);
    EXPECT_TRUE(s->connected);
}

TEST(ibkr_responses, init_response_without_status_booleans_names_the_field) {
    for (const char* body : {R"({"error":"failed to generate sso dh token"})", R"({"authenticated":"true"})",
                             R"({"success":{"value":{"authenticated":true}}})", "{}"}) {
        SCOPED_TRACE(body);
        const auto s = parse_brokerage_status(body);
        ASSERT_FALSE(s);
        EXPECT_EQ(s.error().message, "response has no usable \"authenticated\"");
    }
}

TEST(ibkr_responses, brokerage_status_fields_of_wrong_type_read_as_false_or_empty) {
    const auto s = parse_brokerage_status(
        R"({"authenticated":true,"connected":1,"competing":"yes","message":42,"serverInfo":"JifN19053"})");
    ASSERT_TRUE(s);
    EXPECT_TRUE(s->authenticated);
    EXPECT_FALSE(s->connected);
    EXPECT_FALSE(s->competing);
    EXPECT_EQ(s->message, "");
    EXPECT_EQ(s->server_name, "");
}

TEST(ibkr_responses, brokerage_status_text_with_control_bytes_comes_out_bounded_and_printable) {
    std::string body = R"({"authenticated":false,"connected":true,"message":")";
    body += "line1\\nline2\\u0007\\u001b[31m\\t";
    body += std::string(5000, 'm');
    body += R"(","fail":"caf\u00e9 \u0000 end"})";
    const auto s = parse_brokerage_status(body);
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_TRUE(bounded_and_printable(s->message));
    EXPECT_TRUE(s->message.starts_with("line1 line2  [31m ")) << s->message;
    EXPECT_TRUE(s->message.ends_with("...")) << s->message;
    EXPECT_TRUE(bounded_and_printable(s->fail));
    EXPECT_EQ(s->fail, "caf     end");  // each byte of the UTF-8 e-acute, and the NUL, become a space
}

// ---- tickle ----

TEST(ibkr_responses, tickle_reads_sso_expires_and_brokerage_status) {
    const auto t = parse_tickle(tickle_healthy);
    ASSERT_TRUE(t) << t.error().message;
    EXPECT_EQ(t->sso_expires, 460311ms);
    ASSERT_TRUE(t->brokerage);
    EXPECT_TRUE(t->brokerage->healthy());
    EXPECT_EQ(t->brokerage->established, true);
    EXPECT_EQ(t->brokerage->server_name, "JifN19053");
    EXPECT_TRUE(t->not_processed.empty());
}

TEST(ibkr_responses, tickle_with_timed_out_brokerage_session_reports_connected_but_not_authenticated) {
    const auto t = parse_tickle(
        R"({"session":"abc","ssoExpires":564163,"iserver":{"authStatus":{"authenticated":false,"competing":false,"connected":true}}})");
    ASSERT_TRUE(t);
    ASSERT_TRUE(t->brokerage);
    EXPECT_FALSE(t->brokerage->authenticated);
    EXPECT_TRUE(t->brokerage->connected);
    EXPECT_FALSE(t->brokerage->healthy());
}

TEST(ibkr_responses, tickle_without_authstatus_reports_no_brokerage_status) {
    for (const char* body : {R"({"session":"abc","ssoExpires":460311,"hmds":{"error":"no bridge"}})",
                             R"({"ssoExpires":460311,"iserver":{}})", R"({"ssoExpires":460311,"iserver":{"authStatus":null}})",
                             R"({"ssoExpires":460311,"iserver":"down"})"}) {
        SCOPED_TRACE(body);
        const auto t = parse_tickle(body);
        ASSERT_TRUE(t) << t.error().message;
        EXPECT_FALSE(t->brokerage);
        EXPECT_EQ(t->sso_expires, 460311ms);
    }
}

TEST(ibkr_responses, tickle_without_sso_expires_still_reports_brokerage_status) {
    const auto t = parse_tickle(R"({"iserver":{"authStatus":{"authenticated":true,"connected":true}}})");
    ASSERT_TRUE(t);
    EXPECT_FALSE(t->sso_expires);
    ASSERT_TRUE(t->brokerage);
    EXPECT_TRUE(t->brokerage->healthy());
}

TEST(ibkr_responses, tickle_with_neither_sso_expires_nor_authstatus_names_the_field) {
    for (const char* body : {"{}", R"({"session":"abc"})", R"({"ssoExpires":"460311"})", R"({"error":42})"}) {
        SCOPED_TRACE(body);
        const auto t = parse_tickle(body);
        ASSERT_FALSE(t);
        EXPECT_EQ(t.error().message, "response has no usable \"iserver.authStatus\"");
    }
}

TEST(ibkr_responses, tickle_negative_sso_expires_reports_none) {
    const auto t = parse_tickle(R"({"ssoExpires":-460311,"iserver":{"authStatus":{"authenticated":true,"connected":true}}})");
    ASSERT_TRUE(t);
    EXPECT_FALSE(t->sso_expires);
}

TEST(ibkr_responses, tickle_sso_expires_beyond_the_int32_the_spec_allows_reports_none) {
    // A time_point plus this many milliseconds would overflow; the spec types ssoExpires as int32.
    for (const char* body : {R"({"ssoExpires":9223372036854775807,"iserver":{"authStatus":{"connected":true}}})",
                             R"({"ssoExpires":18446744073709551615,"iserver":{"authStatus":{"connected":true}}})",
                             R"({"ssoExpires":1e15,"iserver":{"authStatus":{"connected":true}}})",
                             R"({"ssoExpires":2147483648,"iserver":{"authStatus":{"connected":true}}})"}) {
        SCOPED_TRACE(body);
        const auto t = parse_tickle(body);
        ASSERT_TRUE(t) << t.error().message;
        EXPECT_FALSE(t->sso_expires);
    }
    EXPECT_EQ(parse_tickle(R"({"ssoExpires":2147483647})")->sso_expires, 2147483647ms);
}

TEST(ibkr_responses, validate_expires_beyond_int32_reports_none) {
    EXPECT_FALSE(parse_sso_validation(R"({"RESULT":true,"EXPIRES":9007199254740993})")->expires);
}

TEST(ibkr_responses, tickle_error_reply_is_reported_as_not_processed) {
    const auto t = parse_tickle(R"({"error":"Please double-check your 'ip' and 'BearerToken' values"})");
    ASSERT_TRUE(t) << t.error().message;
    EXPECT_EQ(t->not_processed, "Please double-check your 'ip' and 'BearerToken' values");
    EXPECT_FALSE(t->brokerage);
    EXPECT_FALSE(t->sso_expires);
}

TEST(ibkr_responses, tickle_error_reply_wins_over_status_fields) {
    const auto t = parse_tickle(
        R"({"error":"busy","ssoExpires":460311,"iserver":{"authStatus":{"authenticated":true,"connected":true}}})");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->not_processed, "busy");
    EXPECT_FALSE(t->brokerage);
}

TEST(ibkr_responses, tickle_error_reply_without_text_still_reads_as_not_processed) {
    EXPECT_EQ(parse_tickle(R"({"error":""})")->not_processed, "(no reason given)");
}

TEST(ibkr_responses, tickle_error_text_is_bounded_and_printable) {
    std::string body = R"({"error":")" + std::string(10000, 'e') + "\\r\\n\\u0000" + R"("})";
    const auto t = parse_tickle(body);
    ASSERT_TRUE(t);
    EXPECT_TRUE(bounded_and_printable(t->not_processed));
    EXPECT_FALSE(t->not_processed.empty());
}

TEST(ibkr_responses, tickle_error_text_echoing_a_live_secret_is_redacted) {
    // The text becomes an outcome detail, which the status page shows without going through the log sink.
    const secret bearer(std::string("sso-bearer-echoed-in-tickle-91f3"));
    const auto t = parse_tickle(R"({"error":"invalid token sso-bearer-echoed-in-tickle-91f3"})");
    ASSERT_TRUE(t);
    EXPECT_FALSE(contains(t->not_processed, bearer.reveal())) << t->not_processed;
    EXPECT_EQ(t->not_processed, "invalid token [redacted]");
}

// ---- /iserver/accounts ----

TEST(ibkr_responses, accounts_reads_the_list_and_the_selected_account) {
    const auto a = parse_accounts(accounts_response);
    ASSERT_TRUE(a) << a.error().message;
    EXPECT_EQ(a->accounts, (std::vector<std::string>{"U1234567", "U7654321"}));
    EXPECT_EQ(a->selected, "U1234567");
}

TEST(ibkr_responses, accounts_reads_is_paper_as_the_login_type) {
    const auto live = parse_accounts(accounts_response);
    ASSERT_TRUE(live);
    EXPECT_EQ(live->login_type, ibkr_environment::live);
    const auto paper = parse_accounts(R"({"accounts":["DU1234567"],"isPaper":true})");
    ASSERT_TRUE(paper);
    EXPECT_EQ(paper->login_type, ibkr_environment::paper);
}

TEST(ibkr_responses, accounts_without_a_boolean_is_paper_leave_the_login_type_unknown) {
    for (const char* body : {R"({"accounts":["U1"]})", R"({"accounts":["U1"],"isPaper":"true"})",
                             R"({"accounts":["U1"],"isPaper":1})", R"({"accounts":["U1"],"isPaper":null})"}) {
        SCOPED_TRACE(body);
        const auto a = parse_accounts(body);
        ASSERT_TRUE(a);
        EXPECT_FALSE(a->login_type);
    }
}

TEST(ibkr_responses, accounts_empty_list_is_parsed) {
    const auto a = parse_accounts(R"({"accounts":[]})");
    ASSERT_TRUE(a);
    EXPECT_TRUE(a->accounts.empty());
    EXPECT_EQ(a->selected, "");
}

TEST(ibkr_responses, accounts_skips_entries_that_are_not_strings) {
    const auto a = parse_accounts(R"({"accounts":[42,"U1234567",null,{"id":"U2"},["U3"],true]})");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->accounts, (std::vector<std::string>{"U1234567"}));
}

TEST(ibkr_responses, accounts_without_a_list_names_the_field) {
    for (const char* body : {R"({"selectedAccount":"U1234567"})", R"({"accounts":"U1234567"})",
                             R"({"accounts":{"U1234567":true}})"}) {
        SCOPED_TRACE(body);
        const auto a = parse_accounts(body);
        ASSERT_FALSE(a);
        EXPECT_EQ(a.error().message, "response has no usable \"accounts\"");
    }
}

TEST(ibkr_responses, accounts_list_is_bounded) {
    std::string body = R"({"accounts":[)";
    for (int i = 0; i < 12000; ++i) body += (i == 0 ? "" : ",") + std::string("\"U") + std::to_string(i) + "\"";
    body += "]}";
    const auto a = parse_accounts(body);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->accounts.size(), 10000u);
}

TEST(ibkr_responses, accounts_with_hostile_names_come_out_bounded_and_printable) {
    const std::string body = R"({"accounts":[")" + std::string(1000, 'U') + R"(","U1\u0000\u001b2"],"selectedAccount":"\t"})";
    const auto a = parse_accounts(body);
    ASSERT_TRUE(a);
    ASSERT_EQ(a->accounts.size(), 2u);
    EXPECT_TRUE(bounded_and_printable(a->accounts[0]));
    EXPECT_EQ(a->accounts[1], "U1  2");
    EXPECT_EQ(a->selected, " ");
}

// ---- every parser on hostile bodies ----

TEST(ibkr_responses, every_parser_refuses_bodies_that_are_not_one_json_object) {
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    const std::string deep_object = [] {
        std::string s;
        for (int i = 0; i < 5000; ++i) s += R"({"a":)";
        s += "1";
        s += std::string(5000, '}');
        return s;
    }();
    for (std::string_view body : {std::string_view(""), std::string_view("   "), std::string_view("null"),
                                  std::string_view("[]"), std::string_view("\"text\""), std::string_view("42"),
                                  std::string_view("<html><body>Service Unavailable</body></html>"),
                                  std::string_view("{\"RESULT\":true"), std::string_view("{} {}"),
                                  std::string_view(deep), std::string_view(deep_object)}) {
        SCOPED_TRACE(std::string(body.substr(0, 40)));
        EXPECT_FALSE(parse_oauth_token(body));
        EXPECT_FALSE(parse_sso_grant(body));
        EXPECT_FALSE(parse_sso_validation(body));
        EXPECT_FALSE(parse_brokerage_status(body));
        EXPECT_FALSE(parse_tickle(body));
        EXPECT_FALSE(parse_accounts(body));
    }
}

TEST(ibkr_responses, parse_errors_never_quote_the_body) {
    const std::string body = "not json at all: secret-looking-value-5531";
    for (const auto& message : {parse_oauth_token(body).error().message, parse_tickle(body).error().message,
                                parse_sso_validation(body).error().message}) {
        EXPECT_FALSE(contains(message, "secret-looking-value-5531")) << message;
        EXPECT_FALSE(message.empty());
    }
}

// ---- describe_error_body ----

TEST(ibkr_responses, describe_error_body_uses_problem_details_title_and_detail) {
    EXPECT_EQ(describe_error_body(
                  R"({"type":"about:blank","title":"Bad Request","status":400,"detail":"Invalid payload for security policy: SIGNED_JWT"})"),
              "Bad Request: Invalid payload for security policy: SIGNED_JWT");
    EXPECT_EQ(describe_error_body(R"({"title":"Unauthorized","status":401})"), "Unauthorized");
    EXPECT_EQ(describe_error_body(R"({"title":"Unauthorized","detail":""})"), "Unauthorized");
    EXPECT_EQ(describe_error_body(R"({"status":401,"detail":"Invalid or expired access token"})"),
              "Invalid or expired access token");
}

TEST(ibkr_responses, describe_error_body_uses_oauth_error_and_description) {
    EXPECT_EQ(describe_error_body(R"({"error":"invalid_client","error_description":"assertion expired"})"),
              "invalid_client: assertion expired");
    EXPECT_EQ(describe_error_body(R"({"error":"failed to generate sso dh token"})"), "failed to generate sso dh token");
    EXPECT_EQ(describe_error_body(R"({"error":"Please query /accounts first","statusCode":500})"),
              "Please query /accounts first");
}

TEST(ibkr_responses, describe_error_body_uses_message_when_nothing_better) {
    EXPECT_EQ(describe_error_body(R"({"message":"not authenticated","code":"401"})"), "not authenticated");
}

TEST(ibkr_responses, describe_error_body_prefers_problem_details_over_error_and_message) {
    EXPECT_EQ(describe_error_body(R"({"message":"m","error":"e","title":"t"})"), "t");
    EXPECT_EQ(describe_error_body(R"({"message":"m","error":"e"})"), "e");
}

TEST(ibkr_responses, describe_error_body_falls_back_to_the_start_of_the_body) {
    EXPECT_EQ(describe_error_body("Service Unavailable\r\n"), "Service Unavailable");
    EXPECT_EQ(describe_error_body(R"({"error":{"code":17}})"), R"({"error":{"code":17}})");
    EXPECT_EQ(describe_error_body(R"({"title":42})"), R"({"title":42})");
    EXPECT_EQ(describe_error_body("[\"x\"]"), "[\"x\"]");
}

TEST(ibkr_responses, describe_error_body_of_empty_body_is_empty) {
    EXPECT_EQ(describe_error_body(""), "");
    EXPECT_EQ(describe_error_body(" \r\n"), "");
}

TEST(ibkr_responses, describe_error_body_of_an_html_page_is_one_bounded_printable_line) {
    std::string html = "<!DOCTYPE html>\n<html>\n<head><title>503 Service Temporarily Unavailable</title></head>\n";
    for (int i = 0; i < 200; ++i) html += "<p>padding padding padding</p>\n";
    const std::string d = describe_error_body(html);
    EXPECT_TRUE(bounded_and_printable(d)) << d;
    EXPECT_TRUE(d.starts_with("<!DOCTYPE html> <html> <head><title>503")) << d;
    EXPECT_TRUE(d.ends_with("..."));
}

TEST(ibkr_responses, describe_error_body_of_a_megabyte_of_credential_lookalikes_is_bounded) {
    std::string body;
    while (body.size() < 1024 * 1024) body += "Bearer x -----BEGIN -----END ----- eyJ.e ";
    const std::string d = describe_error_body(body);
    EXPECT_TRUE(bounded_and_printable(d));
    EXPECT_TRUE(d.starts_with("Bearer [redacted] [redacted]")) << d;
    const std::string json = R"({"title":")" + body + R"("})";
    EXPECT_TRUE(bounded_and_printable(describe_error_body(json)));
}

TEST(ibkr_responses, describe_error_body_turns_control_bytes_into_spaces) {
    const std::string body = "bad\x01\x7f\xff\x1b[0m\ttoken";
    EXPECT_EQ(describe_error_body(body), "bad    [0m token");
    EXPECT_TRUE(bounded_and_printable(describe_error_body(R"({"title":"a\u0000b\nc"})")));
}

TEST(ibkr_responses, describe_error_body_bounds_long_problem_details) {
    const std::string body = R"({"title":"Bad Request","detail":")" + std::string(100000, 'd') + R"("})";
    const std::string d = describe_error_body(body);
    EXPECT_TRUE(bounded_and_printable(d));
    EXPECT_TRUE(d.starts_with("Bad Request: ddd"));
}

TEST(ibkr_responses, describe_error_body_redacts_an_echoed_live_secret) {
    const secret token(std::string("oauth-access-token-echoed-7c1d"));
    EXPECT_EQ(describe_error_body(R"({"title":"Unauthorized","detail":"token oauth-access-token-echoed-7c1d is expired"})"),
              "Unauthorized: token [redacted] is expired");
    EXPECT_EQ(describe_error_body("rejected Authorization: oauth-access-token-echoed-7c1d"),
              "rejected Authorization: [redacted]");
    EXPECT_EQ(describe_error_body(R"({"error":"invalid_grant","error_description":"oauth-access-token-echoed-7c1d"})"),
              "invalid_grant: [redacted]");
}

TEST(ibkr_responses, describe_error_body_redacts_an_echoed_assertion_and_bearer) {
    const std::string jwt =
        "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6Im1haW4ifQ.eyJpc3MiOiJjbGllbnQifQ.c2lnbmF0dXJlLWJ5dGVz";
    EXPECT_EQ(describe_error_body(R"({"error":"invalid assertion )" + jwt + R"("})"), "invalid assertion [redacted]");
    EXPECT_EQ(describe_error_body("got header Authorization: Bearer abc.def-ghi"),
              "got header Authorization: Bearer [redacted]");
}

TEST(ibkr_responses, describe_error_body_never_reveals_part_of_a_long_echoed_secret) {
    // An opaque token longer than the description: the part that fits must not leak either.
    std::string value = "opaque-";
    for (int i = 0; i < 600; ++i) value += static_cast<char>('a' + (i * 7) % 26);
    const secret token(value);
    for (std::size_t padding : {0u, 50u, 150u, 190u, 350u, 399u}) {
        SCOPED_TRACE(padding);
        const std::string body = std::string(padding, '.') + value + " was refused";
        const std::string d = describe_error_body(body);
        EXPECT_FALSE(contains(d, value.substr(0, 12))) << d;
        EXPECT_TRUE(bounded_and_printable(d));
    }
}

// ---- Retry-After ----

TEST(ibkr_responses, retry_after_reads_delta_seconds) {
    const auto now = std::chrono::system_clock::now();
    EXPECT_EQ(parse_retry_after("120", now), 120s);
    EXPECT_EQ(parse_retry_after("0", now), 0s);
    EXPECT_EQ(parse_retry_after(" 600 ", now), 600s);
    EXPECT_EQ(parse_retry_after("007", now), 7s);
}

TEST(ibkr_responses, retry_after_is_bounded_to_a_day) {
    const auto now = std::chrono::system_clock::now();
    EXPECT_EQ(parse_retry_after("86400", now), 86400s);
    EXPECT_EQ(parse_retry_after("86401", now), 86400s);
    EXPECT_EQ(parse_retry_after("999999999", now), 86400s);
    EXPECT_EQ(parse_retry_after("99999999999999999999999999", now), 86400s);
}

TEST(ibkr_responses, retry_after_reads_an_http_date) {
    // Sun, 06 Nov 1994 08:49:37 GMT is 784111777 s after the epoch.
    const auto date = std::chrono::system_clock::time_point(std::chrono::seconds(784111777));
    EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", date - 90s), 90s);
    EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", date), 0s);
}

TEST(ibkr_responses, retry_after_date_in_the_past_means_now) {
    const auto date = std::chrono::system_clock::time_point(std::chrono::seconds(784111777));
    EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", date + 3600s), 0s);
}

TEST(ibkr_responses, retry_after_date_far_ahead_is_bounded_to_a_day) {
    const auto date = std::chrono::system_clock::time_point(std::chrono::seconds(784111777));
    EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", date - std::chrono::hours(24 * 30)), 86400s);
}

TEST(ibkr_responses, retry_after_refuses_anything_else) {
    const auto now = std::chrono::system_clock::now();
    for (const char* value : {"", "   ", "-5", "+5", "1.5", "1e3", "soon", "120s", "0x10",
                              "Sun, 06 Nov 1994 08:49:37 GMTX", "Sunday, 06-Nov-94 08:49:37 GMT",
                              "Sun Nov  6 08:49:37 1994", "Sun, 06 Nov 1994 08:49:37 CET", "Sun, 06 Nov 1994"}) {
        SCOPED_TRACE(value);
        EXPECT_FALSE(parse_retry_after(value, now));
    }
}

}  // namespace
}  // namespace sessiond
