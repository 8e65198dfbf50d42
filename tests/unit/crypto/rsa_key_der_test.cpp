#include "sessiond/crypto/rsa_key.hpp"

#include "support/test_keys.hpp"

#include <gtest/gtest.h>

#include <atomic>

namespace sessiond {
namespace {

TEST(rsa_key_der, a_key_written_as_pkcs8_der_reads_back_as_the_same_key_from_either_pem_form) {
    for (const auto* pem : {&testing::shared_rsa_key().pkcs8_pem, &testing::shared_rsa_key().pkcs1_pem}) {
        const auto key = rsa_private_key::from_pem(*pem);
        ASSERT_TRUE(key);
        const secret der = key->pkcs8_der();
        ASSERT_FALSE(der.empty());
        EXPECT_EQ(static_cast<unsigned char>(der.reveal()[0]), 0x30) << "a DER SEQUENCE";
        EXPECT_EQ(der.reveal().find("PRIVATE KEY"), std::string_view::npos) << "DER, not PEM";
        const auto back = rsa_private_key::from_pkcs8_der(der.reveal());
        ASSERT_TRUE(back) << back.error().message;
        EXPECT_EQ(back->fingerprint(), key->fingerprint());
        EXPECT_EQ(back->format(), "PKCS#8");
        // The same bytes whichever PEM form the key came in: one stored form.
        EXPECT_EQ(der, rsa_private_key::from_pem(testing::shared_rsa_key().pkcs8_pem)->pkcs8_der());
    }
}

TEST(rsa_key_der, damaged_or_trailing_der_is_refused_without_quoting_it) {
    const secret der = rsa_private_key::from_pem(testing::shared_rsa_key().pkcs8_pem)->pkcs8_der();
    const std::string whole(der.reveal());
    for (const std::string& bad : {whole.substr(0, whole.size() / 2), whole + "x", std::string("\x30\x00", 2),
                                   std::string()}) {
        const auto key = rsa_private_key::from_pkcs8_der(bad);
        ASSERT_FALSE(key);
        EXPECT_EQ(key.error().message.find(whole.substr(10, 8)), std::string::npos);
    }
}

// Multi-user mode keeps each user's key sealed and opens it for each signature (users/user_service.cpp).
TEST(rsa_key_sealed, signs_as_the_parsed_key_does_and_opens_for_each_signature_only) {
    const auto parsed = rsa_private_key::from_pem(testing::shared_rsa_key().pkcs8_pem);
    ASSERT_TRUE(parsed);
    const std::string der(parsed->pkcs8_der().reveal());
    auto opened = std::make_shared<std::atomic<int>>(0);
    const rsa_private_key sealed = rsa_private_key::sealed(*parsed, [der, opened]() -> expected<secret> {
        ++*opened;
        return secret(der);
    });
    EXPECT_TRUE(sealed.is_sealed());
    EXPECT_FALSE(parsed->is_sealed());
    // What the status, the audit and the identity check read does not open it.
    EXPECT_EQ(sealed.fingerprint(), parsed->fingerprint());
    EXPECT_EQ(sealed.bits(), parsed->bits());
    EXPECT_EQ(sealed.format(), "PKCS#8");
    EXPECT_EQ(opened->load(), 0);
    // RS256 is deterministic: the same signature, from a key opened for it.
    const auto by_parsed = sign_rs256(*parsed, "input");
    const auto by_sealed = sign_rs256(sealed, "input");
    ASSERT_TRUE(by_parsed && by_sealed);
    EXPECT_EQ(*by_sealed, *by_parsed);
    EXPECT_EQ(opened->load(), 1);
    ASSERT_TRUE(sign_rs256(sealed, "again"));
    EXPECT_EQ(opened->load(), 2);
    EXPECT_EQ(sealed.pkcs8_der(), parsed->pkcs8_der());
}

TEST(rsa_key_sealed, a_record_that_no_longer_opens_fails_the_signature_with_the_reason) {
    const auto parsed = rsa_private_key::from_pem(testing::shared_rsa_key().pkcs8_pem);
    ASSERT_TRUE(parsed);
    const rsa_private_key sealed = rsa_private_key::sealed(
        *parsed, []() -> expected<secret> { return make_error("the record's tag does not verify (tampered)"); });
    const auto signature = sign_rs256(sealed, "input");
    ASSERT_FALSE(signature);
    EXPECT_EQ(signature.error().message,
              "the sealed private key does not open: the record's tag does not verify (tampered)");
    EXPECT_TRUE(sealed.pkcs8_der().empty());
    // Opened to bytes that are no key: refused as the stored form is.
    const rsa_private_key garbage =
        rsa_private_key::sealed(*parsed, []() -> expected<secret> { return secret(std::string("not DER")); });
    ASSERT_FALSE(sign_rs256(garbage, "input"));
}

}  // namespace
}  // namespace sessiond
