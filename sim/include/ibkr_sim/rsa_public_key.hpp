#pragma once
// The client's RSA public key, as IBKR holds it after the client registered it: verifies RS256.

#include "sessiond/core/error.hpp"

#include <memory>
#include <string>
#include <string_view>

struct evp_pkey_st;

namespace sessiond::sim {

class rsa_public_key {
public:
    // Accepts a SubjectPublicKeyInfo PEM ("BEGIN PUBLIC KEY") or an RSA private key PEM, from which
    // the public half is taken. Refuses anything that is not RSA.
    static expected<rsa_public_key> from_pem(std::string_view pem);

    // RSASSA-PKCS1-v1_5 with SHA-256 over input.
    [[nodiscard]] bool verify_rs256(std::string_view input, std::string_view signature) const;
    [[nodiscard]] std::string pem() const;

private:
    explicit rsa_public_key(std::shared_ptr<evp_pkey_st> key) : key_(std::move(key)) {}
    std::shared_ptr<evp_pkey_st> key_;
};

}  // namespace sessiond::sim
