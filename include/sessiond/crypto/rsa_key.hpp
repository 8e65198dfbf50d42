#pragma once
// The RSA private key that signs every IBKR assertion, parsed once and held by OpenSSL.

#include "sessiond/core/error.hpp"
#include "sessiond/core/secret.hpp"

#include <memory>
#include <string>
#include <string_view>

struct evp_pkey_st;

namespace sessiond {

class rsa_private_key {
public:
    // Accepts PKCS#1 ("BEGIN RSA PRIVATE KEY") and PKCS#8 ("BEGIN PRIVATE KEY") PEM, also with
    // literal "\n" escapes instead of line breaks (keys pasted into a single-line variable).
    // Refuses encrypted keys, public keys, certificates, non-RSA keys and keys under 2048 bits,
    // each with its own message. The message never quotes the input.
    static expected<rsa_private_key> from_pem(std::string_view pem);
    // The form a key is stored in once parsed (sealed, in multi-user mode): PKCS#8 DER, as
    // pkcs8_der() wrote it. The message never quotes the input.
    static expected<rsa_private_key> from_pkcs8_der(std::string_view der);
    // PKCS#8 DER of the private key, in a secret (wiped when it goes); empty if OpenSSL fails.
    [[nodiscard]] secret pkcs8_der() const;

    [[nodiscard]] int bits() const;
    // "PKCS#1" or "PKCS#8".
    [[nodiscard]] std::string_view format() const noexcept { return format_; }
    // SubjectPublicKeyInfo PEM of the matching public key (not secret).
    [[nodiscard]] std::string public_key_pem() const;
    // SHA-256 of the DER public key, hex: lets an operator tell which key is loaded.
    [[nodiscard]] std::string fingerprint() const;
    [[nodiscard]] evp_pkey_st* native() const noexcept { return key_.get(); }

private:
    rsa_private_key(std::shared_ptr<evp_pkey_st> key, std::string_view format)
        : key_(std::move(key)), format_(format) {}
    std::shared_ptr<evp_pkey_st> key_;
    std::string_view format_;
};

// RSASSA-PKCS1-v1_5 with SHA-256 (JWS "RS256") over the bytes of input. Deterministic.
expected<std::string> sign_rs256(const rsa_private_key& key, std::string_view input);

}  // namespace sessiond
