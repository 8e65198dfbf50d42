#include "sessiond/users/credential_request.hpp"

#include "support/test_keys.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/object.hpp>

#include <gtest/gtest.h>

namespace sessiond {
namespace {

namespace json = boost::json;
using testing::shared_rsa_key;

json::object valid_body() {
    return {{"client_id", "acme-client"},  {"client_key_id", "main"},      {"private_key", shared_rsa_key().pkcs8_pem},
            {"credential", "alice-ibkr"}, {"account_id", "DU1234567"}, {"allowed_ip", "203.0.113.7"},
            {"environment", "paper"}};
}

std::string problems_text(const credential_request_check& c) {
    std::string out;
    for (const auto& p : c.problems) out += "[" + p.field + "] " + p.message + "\n";
    return out;
}

const credential_field_problem* problem_of(const credential_request_check& c, std::string_view field) {
    for (const auto& p : c.problems)
        if (p.field == field) return &p;
    return nullptr;
}

TEST(credential_request, a_valid_body_gives_the_identity_with_its_parsed_key) {
    const auto c = check_credential_request(json::serialize(valid_body()));
    ASSERT_TRUE(c.profile) << problems_text(c);
    EXPECT_EQ(c.profile->client_id, "acme-client");
    EXPECT_EQ(c.profile->client_key_id, "main");
    EXPECT_EQ(c.profile->credential, "alice-ibkr");
    EXPECT_EQ(c.profile->account_id, "DU1234567");
    EXPECT_EQ(c.profile->allowed_ip, "203.0.113.7");
    EXPECT_EQ(c.profile->environment, ibkr_environment::paper);
    EXPECT_EQ(c.profile->scope, "sso-sessions.write") << "the default scope";
    ASSERT_TRUE(c.profile->private_key);
    EXPECT_EQ(c.profile->private_key->bits(), 2048);
}

TEST(credential_request, pkcs1_and_an_explicit_scope_are_accepted_and_null_scope_is_the_default) {
    auto body = valid_body();
    body["private_key"] = shared_rsa_key().pkcs1_pem;
    body["scope"] = "sso-sessions.write";
    body["environment"] = "LIVE";
    auto c = check_credential_request(json::serialize(body));
    ASSERT_TRUE(c.profile) << problems_text(c);
    EXPECT_EQ(c.profile->private_key->format(), "PKCS#1");
    EXPECT_EQ(c.profile->environment, ibkr_environment::live);
    body["scope"] = nullptr;
    c = check_credential_request(json::serialize(body));
    EXPECT_TRUE(c.profile) << problems_text(c);
}

TEST(credential_request, every_missing_field_is_named_and_nothing_is_read_from_elsewhere) {
    const auto c = check_credential_request("{}");
    EXPECT_FALSE(c.profile);
    for (const auto* field :
         {"client_id", "client_key_id", "private_key", "credential", "account_id", "allowed_ip", "environment"}) {
        const auto* p = problem_of(c, field);
        ASSERT_NE(p, nullptr) << field << "\n" << problems_text(c);
        EXPECT_EQ(p->message, "missing") << field;
    }
    EXPECT_EQ(problem_of(c, "scope"), nullptr) << "optional";
}

TEST(credential_request, each_malformed_field_is_named_by_the_rules_of_its_variable) {
    struct case_ {
        const char* field;
        std::string value;
        const char* words;
        bool as_number = false;
    };
    const std::vector<case_> cases{
        {"allowed_ip", "not-an-ip", "is not an IP address"},
        {"account_id", "DU-12", "is not an IBKR account id"},
        {"environment", "demo", "must be paper or live"},
        {"client_id", "acme client", "spaces or control characters"},
        {"private_key", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "public key"},
        {"private_key", testing::generate_rsa_key(1024).pkcs8_pem, "2048"},
        {"private_key", testing::ec_private_key_pem(), "RSA"},
        {"client_key_id", "7", "must be a string", true},
    };
    for (const auto& k : cases) {
        auto body = valid_body();
        if (k.as_number) body[k.field] = std::stoi(k.value);
        else body[k.field] = k.value;
        const auto c = check_credential_request(json::serialize(body));
        EXPECT_FALSE(c.profile) << k.field;
        const auto* p = problem_of(c, k.field);
        ASSERT_NE(p, nullptr) << k.field << "\n" << problems_text(c);
        EXPECT_NE(p->message.find(k.words), std::string::npos) << k.field << ": " << p->message;
        EXPECT_EQ(c.problems.size(), 1u) << k.field << "\n" << problems_text(c);
    }
}

TEST(credential_request, a_body_that_is_not_a_credential_is_refused_as_a_whole) {
    for (const std::string& body :
         std::vector<std::string>{"", "[]", "\"x\"", "{", "{\"client_id\":\"a\",}", std::string(70 * 1024, ' ')}) {
        const auto c = check_credential_request(body);
        EXPECT_FALSE(c.profile);
        ASSERT_EQ(c.problems.size(), 1u) << body.size();
        EXPECT_EQ(c.problems[0].field, "");
    }
    auto body = valid_body();
    body["private_key_file"] = "/etc/shadow";
    const auto c = check_credential_request(json::serialize(body));
    EXPECT_FALSE(c.profile) << "no field names a file on the daemon's host";
    ASSERT_EQ(c.problems.size(), 1u) << problems_text(c);
    EXPECT_NE(c.problems[0].message.find("not one of an IBKR credential"), std::string::npos);
}

TEST(credential_request, no_problem_quotes_the_key_or_the_username_whatever_field_holds_them) {
    const std::string& pem = shared_rsa_key().pkcs8_pem;
    const std::string key_line = pem.substr(pem.find('\n') + 1, 40);
    auto body = valid_body();
    body["account_id"] = pem;             // a key pasted into the wrong field
    body["allowed_ip"] = "alice-ibkr";    // the username pasted into the wrong field
    body["client_id"] = pem.substr(0, 30) + " x";
    body[pem.substr(28, 20)] = "x";       // as a field name
    const auto c = check_credential_request(json::serialize(body));
    EXPECT_FALSE(c.profile);
    const std::string text = problems_text(c);
    EXPECT_NE(problem_of(c, "account_id"), nullptr) << text;
    EXPECT_EQ(text.find(key_line), std::string::npos) << text;
    EXPECT_EQ(text.find("BEGIN"), std::string::npos) << text;
    EXPECT_EQ(text.find("alice-ibkr"), std::string::npos) << text;
}

}  // namespace
}  // namespace sessiond
