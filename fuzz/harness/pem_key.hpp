#pragma once
// The private key parser (IBKR_PRIVATE_KEY, key files, the systemd credential). Any text is either
// refused with a one-line message or yields an RSA key of at least 2048 bits whose public half is
// refused as a public key, and which, written back as PKCS#8 PEM, parses to the same key.

#include "check.hpp"

#include "sessiond/crypto/rsa_key.hpp"

#include <openssl/bio.h>
#include <openssl/pem.h>

#include <memory>
#include <string>
#include <string_view>

namespace sessiond::fuzz {

inline std::string pkcs8_pem(const rsa_private_key& key) {
    const auto pkey = key.open();
    if (!pkey) return {};
    const std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
    if (!bio || PEM_write_bio_PrivateKey(bio.get(), pkey->get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) return {};
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio.get(), &data);
    std::string out(data, static_cast<std::size_t>(len));
    return out;
}

inline std::string pem_key(std::string_view input) {
    const auto key = rsa_private_key::from_pem(input);
    if (!key) return check_one_line("from_pem error", key.error().message, 300);

    if (key->bits() < 2048) return "accepted a key of " + std::to_string(key->bits()) + " bits";
    if (key->format() != "PKCS#1" && key->format() != "PKCS#8") return "unknown format " + std::string(key->format());
    const std::string fingerprint = key->fingerprint();
    if (fingerprint.size() != 64 || fingerprint.find_first_not_of("0123456789abcdef") != std::string::npos)
        return "fingerprint is not 64 hex digits";

    const auto from_public = rsa_private_key::from_pem(key->public_key_pem());
    if (from_public || from_public.error().message.find("public key") == std::string::npos)
        return "its public key PEM is not refused as a public key";

    std::string written = pkcs8_pem(*key);
    const auto again = rsa_private_key::from_pem(written);
    wipe(written);
    if (!again) return "written back as PKCS#8 it is refused: " + again.error().message;
    if (again->fingerprint() != fingerprint || again->format() != "PKCS#8")
        return "written back as PKCS#8 it is another key";
    return {};
}

}  // namespace sessiond::fuzz
