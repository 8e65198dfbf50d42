#include "sessiond/vault/credential_record.hpp"

#include "sessiond/vault/aead.hpp"
#include "sessiond/vault/canonical_encoding.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <fmt/format.h>

#include <array>
#include <stdexcept>

namespace sessiond {

namespace {

constexpr std::string_view data_label = "ibkr-sessiond credential data";
constexpr std::string_view wrap_label = "ibkr-sessiond credential key";

// A data key on the stack, wiped however the scope ends.
struct data_key {
    std::array<unsigned char, record_data_key_size> bytes{};
    data_key() = default;
    data_key(const data_key&) = delete;
    data_key& operator=(const data_key&) = delete;
    ~data_key() { OPENSSL_cleanse(bytes.data(), bytes.size()); }
    [[nodiscard]] std::string_view view() const { return {reinterpret_cast<const char*>(bytes.data()), bytes.size()}; }
};

record_error failure(record_failure kind, std::string message) { return record_error{kind, std::move(message)}; }

// An AEAD error is an authentication failure unless OpenSSL itself failed.
record_error layer_failure(const error& e, std::string_view layer) {
    if (e.message == aead_authentication_failure)
        return failure(record_failure::tampered,
                       fmt::format("the credential record's {} does not authenticate: it belongs to another user, "
                                   "credential or column, or was altered",
                                   layer));
    return failure(record_failure::internal, e.message);
}

std::string header(std::uint32_t key_version) {
    std::string out(1, static_cast<char>(record_format_v1));
    append_u32_be(out, key_version);
    return out;
}

// The data key of a parsed record, unwrapped; the caller's data_key is wiped when it goes.
record_result<void> unwrap(const master_keyring& keyring, const record_binding& binding, const record_parts& parts,
                           data_key& out) {
    const secret* master = keyring.key(parts.key_version);
    if (!master) return failure(record_failure::unknown_key_version, unknown_key_version_message(parts.key_version));
    auto unwrapped = aead_open(master->reveal(), parts.wrapped_data_key,
                               record_wrap_associated_data(binding, parts.key_version));
    if (!unwrapped) return layer_failure(unwrapped.error(), "wrapped data key");
    // Authenticated, so it is the 32 bytes seal_record wrapped.
    if (unwrapped->size() != record_data_key_size)
        return failure(record_failure::tampered, "the credential record's data key has the wrong size");
    std::copy_n(unwrapped->reveal().data(), record_data_key_size, out.bytes.data());
    return {};
}

}  // namespace

void throw_exception_from_error(const record_error& e, const boost::source_location&) {
    throw std::runtime_error(e.message);
}

expected<record_parts> parse_record(std::string_view bytes) {
    if (bytes.empty()) return make_error("the credential record is empty");
    if (static_cast<std::uint8_t>(bytes[0]) != record_format_v1)
        return make_error(fmt::format("the credential record has format {}, this daemon reads format {}",
                                      static_cast<unsigned>(static_cast<std::uint8_t>(bytes[0])),
                                      static_cast<unsigned>(record_format_v1)));
    if (bytes.size() < record_min_size)
        return make_error(fmt::format("the credential record is {} bytes, shorter than the {} of an empty one",
                                      bytes.size(), record_min_size));
    record_parts parts;
    parts.format = record_format_v1;
    parts.key_version = read_u32_be(bytes.substr(1, 4));
    if (parts.key_version == 0) return make_error("the credential record names master key version 0");
    parts.wrapped_data_key = bytes.substr(5, record_wrapped_key_size);
    parts.data = bytes.substr(record_header_size);
    return parts;
}

expected<std::uint32_t> record_key_version(std::string_view bytes) {
    auto parts = parse_record(bytes);
    if (!parts) return parts.error();
    return parts->key_version;
}

std::string record_data_associated_data(const record_binding& binding) {
    return canonical_fields()
        .text(data_label)
        .u32(record_format_v1)
        .text(binding.user_id)
        .text(binding.credential_id)
        .text(binding.column)
        .bytes();
}

std::string record_wrap_associated_data(const record_binding& binding, std::uint32_t key_version) {
    return canonical_fields()
        .text(wrap_label)
        .u32(record_format_v1)
        .u32(key_version)
        .text(binding.user_id)
        .text(binding.credential_id)
        .text(binding.column)
        .bytes();
}

expected<std::string> seal_record(const master_keyring& keyring, const record_binding& binding,
                                  std::string_view plaintext) {
    const std::uint32_t version = keyring.current_version();
    data_key key;
    if (RAND_bytes(key.bytes.data(), static_cast<int>(key.bytes.size())) != 1)
        return make_error("the system's random generator failed");

    auto data = aead_seal(key.view(), plaintext, record_data_associated_data(binding));
    if (!data) return data.error();
    auto wrapped = aead_seal(keyring.key(version)->reveal(), key.view(), record_wrap_associated_data(binding, version));
    if (!wrapped) return wrapped.error();
    return header(version) + *wrapped + *data;
}

record_result<secret> open_record(const master_keyring& keyring, const record_binding& binding, std::string_view bytes) {
    const auto parts = parse_record(bytes);
    if (!parts) return failure(record_failure::malformed, parts.error().message);
    data_key key;
    if (auto unwrapped = unwrap(keyring, binding, *parts, key); !unwrapped) return unwrapped.error();
    auto plaintext = aead_open(key.view(), parts->data, record_data_associated_data(binding));
    if (!plaintext) return layer_failure(plaintext.error(), "data");
    return std::move(*plaintext);
}

record_result<std::string> rewrap_record(const master_keyring& keyring, const record_binding& binding,
                                         std::string_view bytes, std::uint32_t to_version) {
    const secret* target = keyring.key(to_version);
    if (!target) return failure(record_failure::unknown_key_version, unknown_key_version_message(to_version));
    const auto parts = parse_record(bytes);
    if (!parts) return failure(record_failure::malformed, parts.error().message);
    data_key key;
    if (auto unwrapped = unwrap(keyring, binding, *parts, key); !unwrapped) return unwrapped.error();
    if (auto plaintext = aead_open(key.view(), parts->data, record_data_associated_data(binding)); !plaintext)
        return layer_failure(plaintext.error(), "data");

    auto wrapped = aead_seal(target->reveal(), key.view(), record_wrap_associated_data(binding, to_version));
    if (!wrapped) return failure(record_failure::internal, wrapped.error().message);
    return header(to_version) + *wrapped + std::string(parts->data);
}

}  // namespace sessiond
