#include "sessiond/vault/aead.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <climits>
#include <memory>

namespace sessiond {

namespace {

struct cipher_ctx_free { void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); } };
using cipher_ctx_ptr = std::unique_ptr<EVP_CIPHER_CTX, cipher_ctx_free>;

const unsigned char* bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }
unsigned char* bytes(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }

// EVP lengths are ints: anything larger than this is refused rather than truncated.
constexpr std::size_t max_length = INT_MAX - aead_overhead;

}  // namespace

expected<std::string> aead_seal(std::string_view key, std::string_view plaintext, std::string_view associated_data) {
    if (key.size() != aead_key_size) return make_error("AES-256-GCM needs a 32-byte key");
    if (plaintext.size() > max_length || associated_data.size() > max_length)
        return make_error("AES-256-GCM input too large");

    std::string out(aead_nonce_size + plaintext.size() + aead_tag_size, '\0');
    if (RAND_bytes(bytes(out), static_cast<int>(aead_nonce_size)) != 1)
        return make_error("the system's random generator failed");

    const cipher_ctx_ptr ctx(EVP_CIPHER_CTX_new());
    int len = 0;
    int total = 0;
    unsigned char* ciphertext = bytes(out) + aead_nonce_size;
    const bool ok =
        ctx && EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(aead_nonce_size), nullptr) == 1 &&
        EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, bytes(key), bytes(out)) == 1 &&
        (associated_data.empty() ||
         EVP_EncryptUpdate(ctx.get(), nullptr, &len, bytes(associated_data), static_cast<int>(associated_data.size())) == 1) &&
        EVP_EncryptUpdate(ctx.get(), ciphertext, &len, bytes(plaintext), static_cast<int>(plaintext.size())) == 1 &&
        (total = len, EVP_EncryptFinal_ex(ctx.get(), ciphertext + total, &len) == 1) &&
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(aead_tag_size),
                            ciphertext + plaintext.size()) == 1;
    if (!ok) return make_error("AES-256-GCM encryption failed in OpenSSL");
    return out;
}

expected<secret> aead_open(std::string_view key, std::string_view sealed, std::string_view associated_data) {
    if (key.size() != aead_key_size) return make_error("AES-256-GCM needs a 32-byte key");
    if (sealed.size() < aead_overhead) return make_error("sealed message shorter than its nonce and tag");
    if (sealed.size() > max_length + aead_overhead || associated_data.size() > max_length)
        return make_error("AES-256-GCM input too large");

    const std::string_view nonce = sealed.substr(0, aead_nonce_size);
    const std::string_view ciphertext = sealed.substr(aead_nonce_size, sealed.size() - aead_overhead);
    // EVP_CIPHER_CTX_ctrl takes the tag through a non-const pointer; it only reads it.
    std::string tag(sealed.substr(sealed.size() - aead_tag_size));

    std::string plaintext(ciphertext.size(), '\0');
    const cipher_ctx_ptr ctx(EVP_CIPHER_CTX_new());
    int len = 0;
    const bool set_up =
        ctx && EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(aead_nonce_size), nullptr) == 1 &&
        EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, bytes(key), bytes(nonce)) == 1 &&
        (associated_data.empty() ||
         EVP_DecryptUpdate(ctx.get(), nullptr, &len, bytes(associated_data), static_cast<int>(associated_data.size())) == 1) &&
        EVP_DecryptUpdate(ctx.get(), bytes(plaintext), &len, bytes(ciphertext), static_cast<int>(ciphertext.size())) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(aead_tag_size), tag.data()) == 1;
    // The tag is checked only here, after the whole ciphertext was decrypted into plaintext.
    const bool authentic = set_up && EVP_DecryptFinal_ex(ctx.get(), bytes(plaintext) + len, &len) == 1;
    if (!authentic) {
        wipe(plaintext);
        if (!set_up) return make_error("AES-256-GCM decryption failed in OpenSSL");
        return make_error(std::string(aead_authentication_failure));
    }
    secret out(std::move(plaintext));
    wipe(plaintext);  // a short string's bytes stay in its own buffer after a move
    return out;
}

}  // namespace sessiond
