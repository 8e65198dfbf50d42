// AES-256-GCM as the vault uses it: the layout nonce || ciphertext || tag, associated data bound,
// and no plaintext at all when anything does not authenticate.

#include "sessiond/vault/aead.hpp"

#include "vault_test_keys.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sessiond {
namespace {

using vault_testing::random_bytes;

TEST(vault_aead, round_trips_with_its_associated_data) {
    const std::string key = random_bytes(aead_key_size);
    const auto sealed = aead_seal(key, "the plaintext", "bound");
    ASSERT_TRUE(sealed) << sealed.error().message;
    const auto opened = aead_open(key, *sealed, "bound");
    ASSERT_TRUE(opened) << opened.error().message;
    EXPECT_EQ(opened->reveal(), "the plaintext");
}

TEST(vault_aead, an_empty_plaintext_round_trips) {
    const std::string key = random_bytes(aead_key_size);
    const auto sealed = aead_seal(key, "", "");
    ASSERT_TRUE(sealed);
    EXPECT_EQ(sealed->size(), aead_overhead);
    const auto opened = aead_open(key, *sealed, "");
    ASSERT_TRUE(opened);
    EXPECT_TRUE(opened->empty());
}

TEST(vault_aead, is_nonce_then_ciphertext_then_tag_with_a_fresh_nonce_each_time) {
    const std::string key = random_bytes(aead_key_size);
    const std::string plaintext(100, 'p');
    const auto a = aead_seal(key, plaintext, "");
    const auto b = aead_seal(key, plaintext, "");
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->size(), aead_nonce_size + plaintext.size() + aead_tag_size);
    EXPECT_NE(a->substr(0, aead_nonce_size), b->substr(0, aead_nonce_size));
    EXPECT_NE(*a, *b);
    EXPECT_EQ(a->find(plaintext.substr(0, 16)), std::string::npos);
}

TEST(vault_aead, other_associated_data_does_not_authenticate) {
    const std::string key = random_bytes(aead_key_size);
    const auto sealed = aead_seal(key, "secret text", "user-1");
    ASSERT_TRUE(sealed);
    for (const std::string_view other : {"user-2", "", "user-1 "}) {
        const auto opened = aead_open(key, *sealed, other);
        ASSERT_FALSE(opened) << other;
        EXPECT_EQ(opened.error().message, aead_authentication_failure);
    }
}

TEST(vault_aead, another_key_does_not_authenticate) {
    const auto sealed = aead_seal(random_bytes(aead_key_size), "secret text", "");
    ASSERT_TRUE(sealed);
    const auto opened = aead_open(random_bytes(aead_key_size), *sealed, "");
    ASSERT_FALSE(opened);
    EXPECT_EQ(opened.error().message, aead_authentication_failure);
}

TEST(vault_aead, a_flipped_bit_anywhere_does_not_authenticate) {
    const std::string key = random_bytes(aead_key_size);
    const auto sealed = aead_seal(key, "a secret of some length", "ad");
    ASSERT_TRUE(sealed);
    for (std::size_t i = 0; i < sealed->size(); ++i) {
        std::string damaged = *sealed;
        damaged[i] = static_cast<char>(damaged[i] ^ 0x01);
        EXPECT_FALSE(aead_open(key, damaged, "ad")) << "offset " << i;
    }
}

TEST(vault_aead, input_shorter_than_nonce_and_tag_is_malformed_not_an_authentication_failure) {
    const std::string key = random_bytes(aead_key_size);
    const auto opened = aead_open(key, std::string(aead_overhead - 1, 'x'), "");
    ASSERT_FALSE(opened);
    EXPECT_NE(opened.error().message, aead_authentication_failure);
}

TEST(vault_aead, refuses_keys_that_are_not_32_bytes) {
    EXPECT_FALSE(aead_seal(random_bytes(31), "x", ""));
    EXPECT_FALSE(aead_seal(random_bytes(33), "x", ""));
    EXPECT_FALSE(aead_open(random_bytes(16), std::string(40, 'x'), ""));
}

}  // namespace
}  // namespace sessiond
