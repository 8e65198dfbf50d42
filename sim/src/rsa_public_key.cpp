#include "ibkr_sim/rsa_public_key.hpp"

#include "sessiond/crypto/rsa_key.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

namespace sessiond::sim {

namespace {

struct bio_free { void operator()(BIO* b) const { BIO_free(b); } };
struct md_ctx_free { void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); } };
using bio_ptr = std::unique_ptr<BIO, bio_free>;

}  // namespace

expected<rsa_public_key> rsa_public_key::from_pem(std::string_view pem) {
    if (pem.find("-----BEGIN PUBLIC KEY-----") == std::string_view::npos) {
        // A private key: take its public half (the sessiond parser explains what is wrong otherwise).
        auto private_key = rsa_private_key::from_pem(pem);
        if (!private_key) return private_key.error();
        return from_pem(private_key->public_key_pem());
    }
    bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) return make_error("out of memory reading the public key");
    EVP_PKEY* raw = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
    ERR_clear_error();
    if (raw == nullptr) return make_error("the public key PEM is damaged (base64 or DER does not parse)");
    std::shared_ptr<evp_pkey_st> key(raw, EVP_PKEY_free);
    if (EVP_PKEY_get_base_id(raw) != EVP_PKEY_RSA)
        return make_error(std::string("not an RSA public key (") + EVP_PKEY_get0_type_name(raw) +
                          "); IBKR verifies RS256 with an RSA key");
    if (EVP_PKEY_get_bits(raw) < 2048)
        return make_error("the RSA public key has " + std::to_string(EVP_PKEY_get_bits(raw)) +
                          " bits; at least 2048 are required");
    return rsa_public_key(std::move(key));
}

bool rsa_public_key::verify_rs256(std::string_view input, std::string_view signature) const {
    std::unique_ptr<EVP_MD_CTX, md_ctx_free> ctx(EVP_MD_CTX_new());
    if (!ctx) return false;
    const bool ok =
        EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_.get()) == 1 &&
        EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                         reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
    ERR_clear_error();
    return ok;
}

std::string rsa_public_key::pem() const {
    bio_ptr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PUBKEY(bio.get(), key_.get()) != 1) return {};
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(len));
}

}  // namespace sessiond::sim
