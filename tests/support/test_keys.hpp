#pragma once
// Keys generated at run time (never committed): one RSA key per test process, in both PEM forms.

#include <string>

namespace sessiond::testing {

struct rsa_test_key {
    std::string pkcs8_pem;    // "-----BEGIN PRIVATE KEY-----"
    std::string pkcs1_pem;    // "-----BEGIN RSA PRIVATE KEY-----"
    std::string public_pem;   // "-----BEGIN PUBLIC KEY-----"
};

// The same 2048-bit key for the whole test process (generation is slow-ish).
const rsa_test_key& shared_rsa_key();
// A different one, for "wrong key" tests.
const rsa_test_key& other_rsa_key();
// A fresh key of the given size (e.g. 1024 to test the size check).
rsa_test_key generate_rsa_key(int bits);
// An EC P-256 private key in PKCS#8 PEM: valid PEM, wrong algorithm.
std::string ec_private_key_pem();

}  // namespace sessiond::testing
