#pragma once
// The envelope in which a secret the daemon persists (a user's private key, any credential) is
// stored at rest. Two layers, both AES-256-GCM:
//   - the plaintext is sealed under a fresh random 32-byte data key, one per record;
//   - the data key is wrapped (sealed) under a versioned master key.
// Both layers' associated data bind the record to whom and where it belongs (user, credential,
// column), so that a record copied to another row does not open. The master key's version is bound
// only by the wrap layer, so that a rewrap to another version replaces the wrapped data key and
// leaves the data part byte for byte as it was.
//
// Record bytes, format 1 (README, "Credential records at rest"):
//   [0]       0x01, the format
//   [1..4]    the master key version, uint32 big-endian
//   [5..64]   the wrapped data key: nonce (12) || ciphertext (32) || tag (16)
//   [65..]    the data: nonce (12) || ciphertext || tag (16)

#include "sessiond/core/error.hpp"
#include "sessiond/core/secret.hpp"
#include "sessiond/vault/master_keyring.hpp"

#include <boost/system/result.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sessiond {

inline constexpr std::uint8_t record_format_v1 = 0x01;
inline constexpr std::size_t record_data_key_size = 32;
inline constexpr std::size_t record_wrapped_key_size = 12 + record_data_key_size + 16;  // 60
inline constexpr std::size_t record_header_size = 1 + 4 + record_wrapped_key_size;      // 65
inline constexpr std::size_t record_min_size = record_header_size + 12 + 16;            // 93

// Whose secret a record holds and where it is stored.
struct record_binding {
    std::string user_id;
    std::string credential_id;
    std::string column;
};

// The parts of a record, viewing the bytes given to parse_record (which must outlive them).
struct record_parts {
    std::uint8_t format = record_format_v1;
    std::uint32_t key_version = 0;
    std::string_view wrapped_data_key;  // record_wrapped_key_size bytes
    std::string_view data;              // nonce || ciphertext || tag, at least 28 bytes
};

// Splits a record without any key: an error when it is shorter than record_min_size, of another
// format, or names key version 0. The message never quotes the bytes.
expected<record_parts> parse_record(std::string_view bytes);

// The master key version a record is wrapped under (what a rewrap job looks for).
expected<std::uint32_t> record_key_version(std::string_view bytes);

// The associated data of each layer (the canonical encoding of core/canonical_encoding.hpp).
std::string record_data_associated_data(const record_binding& binding);
std::string record_wrap_associated_data(const record_binding& binding, std::uint32_t key_version);

// Why a record did not open.
enum class record_failure {
    malformed,            // not a record of a known format (parse_record refused it)
    unknown_key_version,  // wrapped under a master key version the keyring lacks
    tampered,             // a layer did not authenticate: another user's, credential's or column's record, or altered
    internal,             // OpenSSL or the random generator failed
};

struct record_error {
    record_failure kind = record_failure::internal;
    std::string message;  // for an operator; never quotes record bytes or key material
};

[[noreturn]] void throw_exception_from_error(const record_error& e, const boost::source_location& loc);

template <class T>
using record_result = boost::system::result<T, record_error>;

// A new record under the keyring's current version.
expected<std::string> seal_record(const master_keyring& keyring, const record_binding& binding,
                                  std::string_view plaintext);

// The plaintext, when both layers authenticate for this binding.
record_result<secret> open_record(const master_keyring& keyring, const record_binding& binding, std::string_view bytes);

// The same record wrapped under to_version: only bytes 1..64 change. Both layers are authenticated
// first, so that a rewrap never gives a tampered record a fresh wrap.
record_result<std::string> rewrap_record(const master_keyring& keyring, const record_binding& binding,
                                         std::string_view bytes, std::uint32_t to_version);

}  // namespace sessiond
