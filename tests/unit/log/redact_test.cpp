#include "sessiond/log/redact.hpp"

#include "sessiond/core/secret.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace sessiond {
namespace {

constexpr std::string_view sample_jwt =
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6Im1haW4ifQ"
    ".eyJpc3MiOiJURVNUQ0xJRU5UMDEiLCJzdWIiOiJURVNUQ0xJRU5UMDEiLCJhdWQiOiIvdG9rZW4ifQ"
    ".Zm9vYmFyLXNpZ25hdHVyZS1ieXRlcy1mb3ItdGVzdGluZy1vbmx5";

constexpr std::string_view sample_pem =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n"
    "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n"
    "-----END PRIVATE KEY-----\n";

TEST(log_redact, ordinary_text_is_untouched) {
    for (const char* text : {"", "tickle ok http=200 ssoExpires=460311",
                             "state=connected step=tickle http=401 attempt=2",
                             "GET https://api.ibkr.com/v1/api/iserver/accounts", "{\"RESULT\":true,\"LOGIN_TYPE\":2}",
                             "Bearer", "the eyJ prefix alone", "----- section -----", "accounts: U1234567, DU7654321",
                             "100% done; a=b, c.d-e_f"}) {
        SCOPED_TRACE(text);
        EXPECT_EQ(redact(text), text);
        EXPECT_FALSE(contains_secret_material(text));
    }
}

TEST(log_redact, live_secret_is_replaced_everywhere_it_appears) {
    const secret s(std::string("sso-bearer-redact-me-0001"));
    EXPECT_EQ(redact("a sso-bearer-redact-me-0001 b sso-bearer-redact-me-0001"), "a [redacted] b [redacted]");
    EXPECT_EQ(redact("xsso-bearer-redact-me-0001y"), "x[redacted]y");
    EXPECT_TRUE(contains_secret_material("...sso-bearer-redact-me-0001..."));
}

TEST(log_redact, destroyed_secret_is_no_longer_redacted) {
    { const secret s(std::string("short-lived-secret-0002")); }
    EXPECT_EQ(redact("short-lived-secret-0002"), "short-lived-secret-0002");
}

TEST(log_redact, cleared_secret_is_no_longer_redacted) {
    secret s(std::string("cleared-secret-0003"));
    EXPECT_EQ(redact("cleared-secret-0003"), "[redacted]");
    s.clear();
    EXPECT_EQ(redact("cleared-secret-0003"), "cleared-secret-0003");
}

TEST(log_redact, moved_secret_stays_redacted_under_its_new_owner) {
    secret from(std::string("moved-secret-0004"));
    const secret to(std::move(from));
    EXPECT_EQ(redact("moved-secret-0004"), "[redacted]");
}

TEST(log_redact, secret_with_special_characters_is_matched_literally) {
    const secret s(std::string("a.b*c+d?(e)[f]\\g"));
    EXPECT_EQ(redact("x a.b*c+d?(e)[f]\\g y"), "x [redacted] y");
    EXPECT_EQ(redact("x aXb*c+d?(e)[f]\\g y"), "x aXb*c+d?(e)[f]\\g y");
}

TEST(log_redact, live_secret_containing_a_shorter_live_secret_is_redacted_whole) {
    // The shorter one (created first) must not cut the longer one so that its tail survives.
    const secret inner(std::string("prefix-secret-0005"));
    const secret outer(std::string("prefix-secret-0005-and-the-private-tail"));
    const std::string out = redact("value=prefix-secret-0005-and-the-private-tail end");
    EXPECT_EQ(out, "value=[redacted] end");
    EXPECT_EQ(out.find("private-tail"), std::string::npos);
}

TEST(log_redact, overlapping_live_secrets_are_redacted_as_one) {
    const secret left(std::string("overlap-left-XYZ12"));
    const secret right(std::string("XYZ12-overlap-right"));
    EXPECT_EQ(redact("<overlap-left-XYZ12-overlap-right>"), "<[redacted]>");
}

TEST(log_redact, adjacent_live_secrets_are_each_redacted) {
    const secret a(std::string("adjacent-secret-A1"));
    const secret b(std::string("adjacent-secret-B2"));
    EXPECT_EQ(redact("adjacent-secret-A1adjacent-secret-B2 adjacent-secret-A1"), "[redacted][redacted] [redacted]");
}

TEST(log_redact, jwt_shaped_strings_are_redacted) {
    const std::string jwt(sample_jwt);
    EXPECT_EQ(redact(jwt), "[redacted]");
    EXPECT_EQ(redact("assertion=" + jwt + "&scope=x"), "assertion=[redacted]&scope=x");
    EXPECT_EQ(redact("{\"access_token\":\"" + jwt + "\"}"), "{\"access_token\":\"[redacted]\"}");
    // Two segments (an unsigned or truncated token) are still a token.
    const std::string two = jwt.substr(0, jwt.rfind('.'));
    EXPECT_EQ(redact("t " + two + " t"), "t [redacted] t");
    EXPECT_TRUE(contains_secret_material(jwt));
}

TEST(log_redact, several_jwts_in_one_line_are_all_redacted) {
    const std::string jwt(sample_jwt);
    EXPECT_EQ(redact(jwt + " " + jwt + "," + jwt), "[redacted] [redacted],[redacted]");
}

TEST(log_redact, pem_block_is_redacted) {
    EXPECT_EQ(redact("key: " + std::string(sample_pem)), "key: [redacted]\n");
    EXPECT_EQ(redact("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY----- trailing"),
              "[redacted] trailing");
}

TEST(log_redact, pem_with_literal_backslash_n_is_redacted) {
    const std::string single_line =
        "IBKR_PRIVATE_KEY=-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\\nBKcwggSjAgEAAoIBAQC7VJTU\\n-----END "
        "PRIVATE KEY-----\\n";
    EXPECT_EQ(redact(single_line), "IBKR_PRIVATE_KEY=[redacted]\\n");
}

TEST(log_redact, unterminated_pem_is_redacted_to_the_end) {
    EXPECT_EQ(redact("oops -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC"), "oops [redacted]");
    EXPECT_EQ(redact("oops -----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY"), "oops [redacted]");
}

TEST(log_redact, several_pem_blocks_are_all_redacted) {
    const std::string pem(sample_pem);
    EXPECT_EQ(redact(pem + "and\n" + pem), "[redacted]\nand\n[redacted]\n");
}

TEST(log_redact, bearer_credentials_are_redacted) {
    EXPECT_EQ(redact("Bearer x"), "Bearer [redacted]");
    EXPECT_EQ(redact("Authorization: Bearer abc.def-ghi_jkl"), "Authorization: Bearer [redacted]");
    EXPECT_EQ(redact("{\"h\":\"Bearer opaque123\",\"n\":1}"), "{\"h\":\"Bearer [redacted]\",\"n\":1}");
    EXPECT_EQ(redact("Bearer one, Bearer two\nnext"), "Bearer [redacted], Bearer [redacted]\nnext");
    EXPECT_TRUE(contains_secret_material("Bearer zzz"));
}

TEST(log_redact, bearer_without_a_value_is_untouched) {
    EXPECT_EQ(redact("Bearer "), "Bearer ");
    EXPECT_EQ(redact("scheme Bearer \"\""), "scheme Bearer \"\"");
}

TEST(log_redact, already_redacted_text_is_stable) {
    const secret s(std::string("stable-secret-0006"));
    const std::string once = redact("Bearer stable-secret-0006 and " + std::string(sample_jwt));
    EXPECT_EQ(once, "Bearer [redacted] and [redacted]");
    EXPECT_EQ(redact(once), once);
    EXPECT_FALSE(contains_secret_material(once));
}

}  // namespace
}  // namespace sessiond
