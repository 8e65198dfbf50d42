#pragma once
// The credential record of the vault (multi-user mode's secrets at rest): bytes from a database or a
// file a person may have edited. parse_record refuses them with a one-line message that never echoes
// them, or splits them into parts that are exactly the input. open_record under a fixed keyring
// (versions 1 and 2) then fails by its key version or its tag, never as "malformed"; and what does
// open (a seed sealed under the fuzz key) rewraps to the other version with its data part unchanged.

#include "check.hpp"

#include "sessiond/vault/credential_record.hpp"

#include <map>
#include <string>
#include <string_view>

namespace sessiond::fuzz {

// Not secrets: fixed keys, so that the seeds in corpus/credential_record (sealed under them) open.
inline const master_keyring& fuzz_keyring() {
    static const master_keyring keyring = [] {
        std::map<std::uint32_t, secret> keys;
        keys.emplace(1, secret(std::string(32, '\x01')));
        keys.emplace(2, secret(std::string(32, '\x02')));
        return master_keyring::from_keys(std::move(keys)).value();
    }();
    return keyring;
}

inline const record_binding fuzz_binding{"fuzz-user", "fuzz-credential", "fuzz-column"};

inline std::string check_record_message(std::string_view what, std::string_view message, std::string_view input) {
    if (auto bad = check_one_line(what, message, 200); !bad.empty()) return bad;
    if (input.size() >= 16 && contains_quietly(message, input.substr(0, 16))) return std::string(what) + " echoes the input";
    return {};
}

inline std::string credential_record(std::string_view input) {
    const auto parts = parse_record(input);
    const auto opened = open_record(fuzz_keyring(), fuzz_binding, input);
    if (!parts) {
        if (auto bad = check_record_message("parse_record error", parts.error().message, input); !bad.empty()) return bad;
        if (opened || opened.error().kind != record_failure::malformed) return "open_record accepted what parse_record refused";
        if (record_key_version(input)) return "record_key_version accepted what parse_record refused";
        return {};
    }
    if (parts->key_version == 0) return "parsed key version 0";
    if (parts->wrapped_data_key.size() != record_wrapped_key_size) return "wrapped data key of the wrong size";
    if (parts->data.size() < 28) return "data part shorter than a nonce and a tag";
    if (parts->wrapped_data_key.data() != input.data() + 5 || parts->data.data() != input.data() + record_header_size ||
        record_header_size + parts->data.size() != input.size())
        return "the parts are not the input";
    if (record_key_version(input).value() != parts->key_version) return "record_key_version disagrees with parse_record";

    if (!opened) {
        if (auto bad = check_record_message("open_record error", opened.error().message, input); !bad.empty()) return bad;
        const record_failure kind = opened.error().kind;
        if (kind == record_failure::malformed) return "open_record calls a parsed record malformed";
        if (kind == record_failure::unknown_key_version && fuzz_keyring().key(parts->key_version))
            return "a loaded key version reported as unknown";
        return {};
    }
    const std::uint32_t other = parts->key_version == 1 ? 2 : 1;
    const auto rewrapped = rewrap_record(fuzz_keyring(), fuzz_binding, input, other);
    if (!rewrapped) return "an open record does not rewrap: " + rewrapped.error().message;
    if (std::string_view(*rewrapped).substr(record_header_size) != parts->data) return "a rewrap changed the data part";
    const auto again = open_record(fuzz_keyring(), fuzz_binding, *rewrapped);
    if (!again || !(*again == *opened)) return "the rewrapped record does not open to the same plaintext";
    return {};
}

}  // namespace sessiond::fuzz
