// The check every integration test ends with (daemon output and API responses against the private
// key, the issued tokens and the API token) is only worth something if it catches a leak.

#include "support/daemon_process.hpp"
#include "support/test_keys.hpp"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

namespace sessiond::testing {
namespace {

TEST(secret_canary, catches_a_line_of_the_private_key) {
    const std::string pem = shared_rsa_key().pkcs8_pem;
    const std::string line = pem.substr(pem.find('\n') + 1, 64);
    EXPECT_NONFATAL_FAILURE(expect_no_secrets("log: " + line + "\n", pem, {}, "text"), "a line of the private key");
}

TEST(secret_canary, catches_an_issued_token_and_the_api_token) {
    const std::string api_token = canary_api_token();
    EXPECT_TRUE(api_token.starts_with("canary-api-token-"));
    EXPECT_NE(api_token, canary_api_token()) << "each daemon gets its own";
    EXPECT_NONFATAL_FAILURE(expect_no_secrets("Authorization: Bearer " + api_token, "", {api_token}, "text"),
                            "contains an issued token");
    EXPECT_NONFATAL_FAILURE(expect_no_secrets("sso bearer Zm9vYmFyYmF6cXV4", "", {"Zm9vYmFyYmF6cXV4"}, "text"),
                            "contains an issued token");
}

TEST(secret_canary, catches_a_signed_assertion_or_a_pem_block) {
    EXPECT_NONFATAL_FAILURE(expect_no_secrets("assertion eyJhbGciOiJSUzI1NiJ9.e30.c2ln", "", {}, "text"), "JWT");
    EXPECT_NONFATAL_FAILURE(expect_no_secrets("-----BEGIN PRIVATE KEY-----", "", {}, "text"), "PEM block");
}

TEST(secret_canary, a_random_token_that_happens_to_hold_eyJ_is_not_taken_for_a_jwt) {
    // CI once failed on a user's API token (shown once, in the PUT's answer) that held "eyJ".
    const std::string answer = R"({"id":"alice","token":"isd_Qw3eyJx9_kL0p-ZZr2mN8vB1cX4dE7fG6hH5jJ3kK2l"})";
    expect_no_secrets(answer, "", {}, "text");
    EXPECT_EQ(find_jwt_shape("eyJ"), std::string_view::npos);
    EXPECT_EQ(find_jwt_shape("x eyJhbGciOiJSUzI1NiJ9.e30.c2ln"), 2u);
    EXPECT_EQ(find_jwt_shape("eyJabc eyJhbGci."), 7u);
}

TEST(secret_canary, passes_clean_text) { expect_no_secrets("tickle: HTTP 200 in 3 ms", shared_rsa_key().pkcs8_pem, {"abcdefgh12"}, "text"); }

}  // namespace
}  // namespace sessiond::testing
