#include "support/test_keys.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdio>
#include <memory>
#include <stdexcept>

namespace sessiond::testing {

namespace {

struct pkey_free { void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); } };
struct bio_free { void operator()(BIO* b) const { BIO_free(b); } };
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

template <class Write>
std::string to_pem(Write write) {
    std::unique_ptr<BIO, bio_free> bio(BIO_new(BIO_s_mem()));
    if (!bio || write(bio.get()) != 1) throw std::runtime_error("PEM encoding failed");
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(len));
}

// The three PEM forms of one key.
rsa_test_key forms_of(EVP_PKEY* key) {
    rsa_test_key out;
    out.pkcs8_pem = to_pem([&](BIO* b) {
        return PEM_write_bio_PKCS8PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
    });
    out.pkcs1_pem = to_pem([&](BIO* b) {
        // The "traditional" writer emits PKCS#1 ("RSA PRIVATE KEY") for RSA keys.
        return PEM_write_bio_PrivateKey_traditional(b, key, nullptr, nullptr, 0, nullptr, nullptr);
    });
    out.public_pem = to_pem([&](BIO* b) { return PEM_write_bio_PUBKEY(b, key); });
    return out;
}

}  // namespace

rsa_test_key generate_rsa_key(int bits) {
    pkey_ptr key(EVP_RSA_gen(static_cast<unsigned>(bits)));
    if (!key) throw std::runtime_error("RSA key generation failed");
    return forms_of(key.get());
}

namespace {

// The key the build generated for the test suites, or a fresh one when the file is not there.
rsa_test_key build_key_or_fresh(const char* name) {
#ifdef SESSIOND_TEST_KEY_DIR
    const std::string path = std::string(SESSIOND_TEST_KEY_DIR) + "/" + name;
    if (FILE* f = std::fopen(path.c_str(), "r")) {
        pkey_ptr key(PEM_read_PrivateKey(f, nullptr, nullptr, nullptr));
        std::fclose(f);
        if (key) return forms_of(key.get());
    }
#else
    (void)name;
#endif
    return generate_rsa_key(2048);
}

}  // namespace

const rsa_test_key& shared_rsa_key() {
    static const rsa_test_key key = build_key_or_fresh("shared.pem");
    return key;
}

const rsa_test_key& other_rsa_key() {
    static const rsa_test_key key = build_key_or_fresh("other.pem");
    return key;
}

std::string ec_private_key_pem() {
    pkey_ptr key(EVP_EC_gen("P-256"));
    if (!key) throw std::runtime_error("EC key generation failed");
    return to_pem([&](BIO* b) {
        return PEM_write_bio_PKCS8PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    });
}

}  // namespace sessiond::testing
