#include "sessiond/crypto/base64url.hpp"

#include <gtest/gtest.h>

namespace sessiond {
namespace {

// RFC 4648 section 10 test vectors, in the unpadded base64url form JWS uses.
TEST(base64url, encodes_rfc4648_test_vectors) {
    EXPECT_EQ(base64url_encode(""), "");
    EXPECT_EQ(base64url_encode("f"), "Zg");
    EXPECT_EQ(base64url_encode("fo"), "Zm8");
    EXPECT_EQ(base64url_encode("foo"), "Zm9v");
    EXPECT_EQ(base64url_encode("foob"), "Zm9vYg");
    EXPECT_EQ(base64url_encode("fooba"), "Zm9vYmE");
    EXPECT_EQ(base64url_encode("foobar"), "Zm9vYmFy");
}

TEST(base64url, decodes_rfc4648_test_vectors_with_and_without_padding) {
    EXPECT_EQ(base64url_decode("Zm9vYg").value(), "foob");
    EXPECT_EQ(base64url_decode("Zm9vYg==").value(), "foob");
    EXPECT_EQ(base64url_decode("Zm9vYmFy").value(), "foobar");
    EXPECT_EQ(base64url_decode("").value(), "");
}

TEST(base64url, uses_the_url_safe_alphabet_for_62_and_63) {
    // 0xfb 0xff encodes to "-_8" in base64url ("+/8" in standard base64).
    EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
    EXPECT_EQ(base64url_decode("-_8").value(), "\xfb\xff");
}

TEST(base64url, rejects_characters_outside_the_alphabet) {
    EXPECT_FALSE(base64url_decode("Zm9v+g"));
    EXPECT_FALSE(base64url_decode("Zm9v/g"));
    EXPECT_FALSE(base64url_decode("Zm 9v"));
}

TEST(base64url, rejects_impossible_lengths_and_noncanonical_bits) {
    EXPECT_FALSE(base64url_decode("Z"));
    EXPECT_FALSE(base64url_decode("Zh"));  // 'h' leaves non-zero trailing bits
}

TEST(base64url, round_trips_every_byte_value) {
    std::string all;
    for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
    for (std::size_t n = 0; n <= all.size(); n += 17) {
        const auto part = all.substr(0, n);
        EXPECT_EQ(base64url_decode(base64url_encode(part)).value(), part);
    }
}

}  // namespace
}  // namespace sessiond
