#include "sessiond/crypto/rsa_key.hpp"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <vector>

namespace sessiond {

namespace {

struct bio_free { void operator()(BIO* b) const { BIO_free(b); } };
struct md_ctx_free { void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); } };
using bio_ptr = std::unique_ptr<BIO, bio_free>;

// Never prompt on a terminal for a passphrase: a daemon has nobody to ask.
int refuse_passphrase(char*, int, int, void*) { return -1; }

// Keys pasted into one line of an env file or a container variable carry "\n" as two characters.
std::string with_real_line_breaks(std::string_view pem) {
    std::string out;
    out.reserve(pem.size());
    for (std::size_t i = 0; i < pem.size(); ++i) {
        if (pem[i] == '\\' && i + 1 < pem.size() && pem[i + 1] == 'n') {
            out += '\n';
            ++i;
        } else if (pem[i] != '\r') {
            out += pem[i];
        }
    }
    return out;
}

struct begin_line {
    bool found = false;
    std::string_view label;  // empty when the line is damaged
};

// The label of the first BEGIN line. Messages quote it, so it must be one: printable ASCII on that line,
// of a label's length. A BEGIN line that lost its closing dashes would otherwise have its "label" run on
// into the base64 of the key.
begin_line find_begin_line(std::string_view pem) {
    constexpr std::string_view begin = "-----BEGIN ";
    constexpr std::size_t max_label = 64;
    const auto at = pem.find(begin);
    if (at == std::string_view::npos) return {};
    const auto start = at + begin.size();
    const auto end = pem.find("-----", start);
    if (end == std::string_view::npos || end - start > max_label) return {true, {}};
    const std::string_view label = pem.substr(start, end - start);
    if (!std::ranges::all_of(label, [](char c) { return c >= 0x20 && c < 0x7f; })) return {true, {}};
    return {true, label};
}

}  // namespace

expected<rsa_private_key> rsa_private_key::from_pem(std::string_view input) {
    std::string pem = with_real_line_breaks(input);
    struct wipe_on_exit {
        std::string& s;
        ~wipe_on_exit() { wipe(s); }
    } guard{pem};

    const begin_line line = find_begin_line(pem);
    if (!line.found) return make_error("not a PEM private key (no BEGIN line)");
    if (line.label.empty()) return make_error("not a PEM private key (its BEGIN line is damaged)");
    const std::string_view label = line.label;
    if (label == "ENCRYPTED PRIVATE KEY" || pem.find("Proc-Type: 4,ENCRYPTED") != std::string::npos)
        return make_error("the private key is encrypted with a passphrase; store it unencrypted in a protected "
                          "file or systemd credential instead");
    if (label == "PUBLIC KEY" || label == "RSA PUBLIC KEY")
        return make_error("this is a public key; the daemon needs the RSA private key that signs the assertions");
    if (label == "CERTIFICATE") return make_error("this is a certificate; the daemon needs the RSA private key");
    if (label == "EC PRIVATE KEY" || label == "OPENSSH PRIVATE KEY" || label == "DSA PRIVATE KEY")
        return make_error(std::string("not an RSA private key (PEM type \"") + std::string(label) +
                          "\"); IBKR signs with RS256 and needs an RSA key");
    if (label != "RSA PRIVATE KEY" && label != "PRIVATE KEY")
        return make_error(std::string("unsupported PEM type \"") + std::string(label) +
                          "\"; expected \"PRIVATE KEY\" (PKCS#8) or \"RSA PRIVATE KEY\" (PKCS#1)");
    const std::string_view format = label == "PRIVATE KEY" ? "PKCS#8" : "PKCS#1";

    bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) return make_error("out of memory reading the private key");
    EVP_PKEY* raw = PEM_read_bio_PrivateKey(bio.get(), nullptr, refuse_passphrase, nullptr);
    ERR_clear_error();
    if (raw == nullptr) return make_error(std::string("the ") + std::string(format) +
                                          " private key PEM is damaged or truncated (base64 or DER does not parse)");
    std::shared_ptr<evp_pkey_st> key(raw, EVP_PKEY_free);
    if (EVP_PKEY_get_base_id(raw) != EVP_PKEY_RSA)
        return make_error(std::string("not an RSA private key (") + EVP_PKEY_get0_type_name(raw) +
                          "); IBKR signs with RS256 and needs an RSA key");
    if (EVP_PKEY_get_bits(raw) < 2048)
        return make_error("the RSA key has " + std::to_string(EVP_PKEY_get_bits(raw)) +
                          " bits; at least 2048 are required");
    return rsa_private_key(std::move(key), format);
}

expected<rsa_private_key> rsa_private_key::from_pkcs8_der(std::string_view der) {
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    EVP_PKEY* raw = d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(der.size()));
    ERR_clear_error();
    if (raw == nullptr) return make_error("the stored private key does not parse as DER");
    std::shared_ptr<evp_pkey_st> key(raw, EVP_PKEY_free);
    if (p != reinterpret_cast<const unsigned char*>(der.data()) + der.size())
        return make_error("the stored private key has bytes after its DER");
    if (EVP_PKEY_get_base_id(raw) != EVP_PKEY_RSA || EVP_PKEY_get_bits(raw) < 2048)
        return make_error("the stored private key is not an RSA key of at least 2048 bits");
    return rsa_private_key(std::move(key), "PKCS#8");
}

rsa_private_key rsa_private_key::sealed(const rsa_private_key& parsed, opener open) {
    auto form = std::make_shared<sealed_key>();
    form->open = std::move(open);
    form->fingerprint = parsed.fingerprint();
    form->bits = parsed.bits();
    rsa_private_key out(nullptr, "PKCS#8");
    out.sealed_ = std::move(form);
    return out;
}

expected<std::shared_ptr<evp_pkey_st>> rsa_private_key::open() const {
    if (!sealed_) return key_;
    auto der = sealed_->open();
    if (!der) return make_error("the sealed private key does not open: " + der.error().message);
    auto key = from_pkcs8_der(der->reveal());  // `der` wipes itself when it goes
    if (!key) return key.error();
    return std::move(key->key_);
}

secret rsa_private_key::pkcs8_der() const {
    if (sealed_) {
        auto der = sealed_->open();
        return der ? std::move(*der) : secret{};
    }
    // i2d_PrivateKey would write RSA's traditional (PKCS#1) form; PKCS#8 names its algorithm.
    PKCS8_PRIV_KEY_INFO* info = EVP_PKEY2PKCS8(key_.get());
    if (info == nullptr) return {};
    unsigned char* der = nullptr;
    const int len = i2d_PKCS8_PRIV_KEY_INFO(info, &der);
    PKCS8_PRIV_KEY_INFO_free(info);
    if (len <= 0) return {};
    secret out(std::string_view(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len)));
    OPENSSL_clear_free(der, static_cast<std::size_t>(len));
    return out;
}

int rsa_private_key::bits() const { return sealed_ ? sealed_->bits : EVP_PKEY_get_bits(key_.get()); }

std::string rsa_private_key::public_key_pem() const {
    const auto key = open();
    if (!key) return {};
    bio_ptr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PUBKEY(bio.get(), key->get()) != 1) return {};
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(len));
}

std::string rsa_private_key::fingerprint() const {
    if (sealed_) return sealed_->fingerprint;
    unsigned char* der = nullptr;
    const int len = i2d_PUBKEY(key_.get(), &der);
    if (len <= 0) return {};
    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int md_len = 0;
    EVP_Digest(der, static_cast<std::size_t>(len), md.data(), &md_len, EVP_sha256(), nullptr);
    OPENSSL_free(der);
    std::string hex;
    for (unsigned int i = 0; i < md_len; ++i) {
        std::array<char, 3> byte{};
        std::snprintf(byte.data(), byte.size(), "%02x", md[i]);
        hex += byte.data();
    }
    return hex;
}

expected<std::string> sign_rs256(const rsa_private_key& key, std::string_view input) {
    const auto pkey = key.open();
    if (!pkey) return pkey.error();
    std::unique_ptr<EVP_MD_CTX, md_ctx_free> ctx(EVP_MD_CTX_new());
    if (!ctx) return make_error("out of memory signing");
    std::size_t len = 0;
    if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pkey->get()) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
        ERR_clear_error();
        return make_error("RS256 signing failed to start");
    }
    std::string sig(len, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                       reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
        ERR_clear_error();
        return make_error("RS256 signing failed");
    }
    sig.resize(len);
    return sig;
}

}  // namespace sessiond
