#include "sessiond/users/api_token.hpp"

#include <gtest/gtest.h>

#include <set>

namespace sessiond {
namespace {

TEST(api_token, is_prefixed_base64url_of_32_random_bytes_and_never_repeats) {
    std::set<std::string> seen;
    for (int i = 0; i < 100; ++i) {
        const secret t = issue_api_token();
        const std::string_view v = t.reveal();
        ASSERT_TRUE(v.starts_with(api_token_prefix));
        EXPECT_EQ(v.size(), api_token_prefix.size() + 43) << "32 bytes, base64url without padding";
        EXPECT_EQ(v.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                                      api_token_prefix.size()),
                  std::string_view::npos);
        EXPECT_TRUE(seen.insert(std::string(v)).second);
    }
}

TEST(api_token, is_stored_as_its_sha256) {
    const byte_string h = api_token_hash("abc");
    ASSERT_EQ(h.size(), 32u);
    // SHA-256("abc"), FIPS 180-2 appendix B.1.
    EXPECT_EQ(h[0], 0xba);
    EXPECT_EQ(h[1], 0x78);
    EXPECT_EQ(h[31], 0xad);
    EXPECT_NE(api_token_hash("abd"), h);
}

}  // namespace
}  // namespace sessiond
