#pragma once
// AES-256-GCM, the one authenticated cipher of the vault: every layer of a credential record is
// sealed with it. A sealed message is nonce (12 bytes) || ciphertext || tag (16 bytes); the nonce
// is fresh from the system's random generator for every seal, so one key may seal many messages.

#include "sessiond/core/error.hpp"
#include "sessiond/core/secret.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace sessiond {

inline constexpr std::size_t aead_key_size = 32;
inline constexpr std::size_t aead_nonce_size = 12;
inline constexpr std::size_t aead_tag_size = 16;
inline constexpr std::size_t aead_overhead = aead_nonce_size + aead_tag_size;

// Seals plaintext under key (exactly aead_key_size bytes), binding associated_data, which is
// authenticated but not stored. Fails only when the key has the wrong size or OpenSSL fails.
expected<std::string> aead_seal(std::string_view key, std::string_view plaintext, std::string_view associated_data);

// The plaintext of a sealed message, or an error when it is shorter than aead_overhead or does not
// authenticate (another key, other associated data, any byte changed). On failure no byte of a
// would-be plaintext leaves the function: OpenSSL decrypts before it checks the tag, so the buffer
// is wiped. The messages never quote the input.
expected<secret> aead_open(std::string_view key, std::string_view sealed, std::string_view associated_data);

// The error text of an authentication failure, so that callers can tell it from a malformed input.
inline constexpr std::string_view aead_authentication_failure = "authentication failed";

}  // namespace sessiond
