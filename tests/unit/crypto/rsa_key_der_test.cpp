#include "sessiond/crypto/rsa_key.hpp"

#include "support/test_keys.hpp"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace sessiond
