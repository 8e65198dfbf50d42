#pragma once
// The RSA private key that signs every IBKR assertion: parsed once and held by OpenSSL, or kept
// sealed and parsed for each signature (multi-user mode).

#include "sessiond/core/error.hpp"
#include "sessiond/core/secret.hpp"

#include <functional>
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
    // PKCS#8 DER of the private key, in a secret (wiped when it goes); empty if OpenSSL fails, or
    // if a sealed key does not open.
    [[nodiscard]] secret pkcs8_der() const;

    // Gives the PKCS#8 DER of a sealed key (decrypting it); called once for each signature, on
    // whichever thread signs, so it must be safe to call from any thread.
    using opener = std::function<expected<secret>()>;
    // The same key as `parsed`, kept sealed: each signature opens it, parses it and frees it (RSA_free
    // wipes the private numbers). Between logins no plaintext of the key is held, and a session keeps
    // its sealed record (about 1.3 KiB) where the parsed key with its Montgomery and blinding values
    // took about 4.5 KiB. Bits and fingerprint are taken from `parsed` now.
    static rsa_private_key sealed(const rsa_private_key& parsed, opener open);
    [[nodiscard]] bool is_sealed() const noexcept { return sealed_ != nullptr; }
    // The key to sign with: the one held, or the sealed one opened and parsed now (freed once the
    // returned pointer and its copies go).
    [[nodiscard]] expected<std::shared_ptr<evp_pkey_st>> open() const;

    [[nodiscard]] int bits() const;
    // "PKCS#1" or "PKCS#8".
    [[nodiscard]] std::string_view format() const noexcept { return format_; }
    // SubjectPublicKeyInfo PEM of the matching public key (not secret).
    [[nodiscard]] std::string public_key_pem() const;
    // SHA-256 of the DER public key, hex: lets an operator tell which key is loaded.
    [[nodiscard]] std::string fingerprint() const;

private:
    struct sealed_key {
        opener open;
        std::string fingerprint;
        int bits = 0;
    };
    rsa_private_key(std::shared_ptr<evp_pkey_st> key, std::string_view format)
        : key_(std::move(key)), format_(format) {}
    std::shared_ptr<evp_pkey_st> key_;                // null when sealed
    std::shared_ptr<const sealed_key> sealed_;       // null when held
    std::string_view format_;
};

// RSASSA-PKCS1-v1_5 with SHA-256 (JWS "RS256") over the bytes of input. Deterministic.
expected<std::string> sign_rs256(const rsa_private_key& key, std::string_view input);

}  // namespace sessiond
