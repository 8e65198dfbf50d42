// Known-answer tests for the JWS: RS256 (RSASSA-PKCS1-v1_5 with SHA-256) is deterministic, so for
// the same key and signing input our signature must equal, byte for byte, what the openssl command
// line tool produces. The signing input itself is checked against base64url computed by Python's
// standard library (an implementation that is not ours).

#include "sessiond/crypto/base64url.hpp"
#include "sessiond/crypto/jws.hpp"
#include "sessiond/crypto/rsa_key.hpp"

#include "support/temp_dir.hpp"
#include "support/test_keys.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

namespace sessiond {
namespace {

const boost::json::object fixed_claims{
    {"iss", "client-1"}, {"sub", "client-1"}, {"aud", "/token"}, {"iat", 1764000000}, {"exp", 1764000030}};

// python3: base64.urlsafe_b64encode(json.dumps(x, separators=(',',':')).encode()).rstrip(b'=')
constexpr std::string_view expected_header = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6Im1haW4ifQ";
constexpr std::string_view expected_claims =
    "eyJpc3MiOiJjbGllbnQtMSIsInN1YiI6ImNsaWVudC0xIiwiYXVkIjoiL3Rva2VuIiwiaWF0IjoxNzY0MDAwMDAwLCJleHAiOjE3NjQwMDAwMzB9";

std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string segment(std::string_view jws, int index) {
    std::size_t start = 0;
    for (int i = 0; i < index; ++i) start = jws.find('.', start) + 1;
    const std::size_t end = jws.find('.', start);
    return std::string(jws.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
}

TEST(jws, signing_input_is_compact_json_in_unpadded_base64url) {
    EXPECT_EQ(jws_signing_input(jws_header("main"), fixed_claims),
              std::string(expected_header) + "." + std::string(expected_claims));
}

TEST(jws, rs256_signature_equals_openssl_dgst_sha256_sign) {
    testing::temp_dir dir;
    const auto key_file = dir.write("key.pem", testing::shared_rsa_key().pkcs8_pem);
    const auto pub_file = dir.write("pub.pem", testing::shared_rsa_key().public_pem);
    const auto key = rsa_private_key::from_pem(testing::shared_rsa_key().pkcs8_pem);
    ASSERT_TRUE(key) << key.error().message;

    const auto jws = sign_jws(*key, "main", fixed_claims);
    ASSERT_TRUE(jws);
    const std::string_view token = jws->reveal();
    const std::string input = segment(token, 0) + "." + segment(token, 1);
    ASSERT_EQ(input, std::string(expected_header) + "." + std::string(expected_claims));

    const auto input_file = dir.write("input.txt", input);
    const auto sig_file = dir.path() / "sig.bin";
    const std::string sign = "openssl dgst -sha256 -sign " + key_file.string() + " -out " + sig_file.string() + " " +
                             input_file.string();
    ASSERT_EQ(std::system(sign.c_str()), 0) << sign;
    const std::string openssl_signature = read_file(sig_file);
    ASSERT_EQ(openssl_signature.size(), 256u);

    const auto ours = base64url_decode(segment(token, 2));
    ASSERT_TRUE(ours);
    EXPECT_EQ(*ours, openssl_signature);

    // And openssl accepts ours with the public key alone.
    const auto our_sig_file = dir.write("ours.bin", *ours);
    const std::string verify = "openssl dgst -sha256 -verify " + pub_file.string() + " -signature " +
                               our_sig_file.string() + " " + input_file.string() + " >/dev/null";
    EXPECT_EQ(std::system(verify.c_str()), 0);
}

TEST(jws, pkcs1_and_pkcs8_forms_of_one_key_sign_identically) {
    const auto pkcs8 = rsa_private_key::from_pem(testing::shared_rsa_key().pkcs8_pem);
    const auto pkcs1 = rsa_private_key::from_pem(testing::shared_rsa_key().pkcs1_pem);
    ASSERT_TRUE(pkcs8);
    ASSERT_TRUE(pkcs1);
    EXPECT_EQ(pkcs8->format(), "PKCS#8");
    EXPECT_EQ(pkcs1->format(), "PKCS#1");
    EXPECT_EQ(sign_jws(*pkcs8, "main", fixed_claims)->reveal(), sign_jws(*pkcs1, "main", fixed_claims)->reveal());
    EXPECT_EQ(pkcs8->fingerprint(), pkcs1->fingerprint());
}

TEST(jws, another_key_gives_another_signature) {
    const auto a = rsa_private_key::from_pem(testing::shared_rsa_key().pkcs8_pem);
    const auto b = rsa_private_key::from_pem(testing::other_rsa_key().pkcs8_pem);
    EXPECT_NE(segment(sign_jws(*a, "main", fixed_claims)->reveal(), 2), segment(sign_jws(*b, "main", fixed_claims)->reveal(), 2));
}

TEST(rsa_private_key, accepts_pem_with_literal_backslash_n_escapes) {
    std::string pem = testing::shared_rsa_key().pkcs8_pem;
    std::string escaped;
    for (char c : pem) escaped += c == '\n' ? std::string("\\n") : std::string(1, c);
    const auto key = rsa_private_key::from_pem(escaped);
    ASSERT_TRUE(key) << key.error().message;
    EXPECT_EQ(key->bits(), 2048);
}

TEST(rsa_private_key, refuses_what_is_not_an_rsa_private_key_and_says_what_it_is) {
    EXPECT_EQ(rsa_private_key::from_pem("hello").error().message,
              "not a PEM private key (no BEGIN line)");
    EXPECT_EQ(rsa_private_key::from_pem(testing::shared_rsa_key().public_pem).error().message,
              "this is a public key; the daemon needs the RSA private key that signs the assertions");
    EXPECT_EQ(rsa_private_key::from_pem(testing::ec_private_key_pem()).error().message,
              "not an RSA private key (EC); IBKR signs with RS256 and needs an RSA key");
    EXPECT_EQ(rsa_private_key::from_pem(testing::generate_rsa_key(1024).pkcs8_pem).error().message,
              "the RSA key has 1024 bits; at least 2048 are required");
    EXPECT_EQ(rsa_private_key::from_pem("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n")
                  .error()
                  .message,
              "the private key is encrypted with a passphrase; store it unencrypted in a protected file or systemd "
              "credential instead");
    EXPECT_EQ(rsa_private_key::from_pem("-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n")
                  .error()
                  .message,
              "the PKCS#8 private key PEM is damaged or truncated (base64 or DER does not parse)");
}

TEST(rsa_private_key, error_messages_never_quote_the_key) {
    std::string damaged = testing::shared_rsa_key().pkcs8_pem;
    damaged[damaged.size() / 2] = '!';
    const auto result = rsa_private_key::from_pem(damaged);
    ASSERT_FALSE(result);
    const std::string body_line = damaged.substr(damaged.find('\n') + 1, 40);
    EXPECT_EQ(result.error().message.find(body_line), std::string::npos);
}

}  // namespace
}  // namespace sessiond
