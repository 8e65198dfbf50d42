#include "sessiond/users/api_token.hpp"

#include "sessiond/crypto/base64url.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <array>
#include <stdexcept>

namespace sessiond {

secret issue_api_token() {
    std::array<unsigned char, 32> bytes{};
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1)
        throw std::runtime_error("the system's random generator failed");
    std::string token(api_token_prefix);
    token += base64url_encode(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
    OPENSSL_cleanse(bytes.data(), bytes.size());
    secret out(std::move(token));
    wipe(token);
    return out;
}

byte_string api_token_hash(std::string_view token) {
    byte_string digest(SHA256_DIGEST_LENGTH);
    SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest.data());
    return digest;
}

}  // namespace sessiond
