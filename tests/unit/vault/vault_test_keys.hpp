#pragma once
// Master keys for the vault's tests: fresh random bytes in every test, and the check that no error
// text carries a key in any form an operator's log could show it (raw, hex, base64).

#include "sessiond/vault/master_keyring.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace sessiond::vault_testing {

inline std::string random_bytes(std::size_t n) {
    std::string out(n, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) ADD_FAILURE() << "RAND_bytes";
    return out;
}

inline std::string hex(std::string_view bytes, bool upper = false) {
    const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    std::string out;
    for (const char c : bytes) {
        out += digits[static_cast<unsigned char>(c) >> 4];
        out += digits[static_cast<unsigned char>(c) & 0xf];
    }
    return out;
}

inline std::string base64(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

// Keys by version, kept in plain strings by the test (which compares against them) and in the keyring.
struct test_keys {
    std::map<std::uint32_t, std::string> raw;

    [[nodiscard]] master_keyring keyring(std::vector<std::uint32_t> versions = {}) const {
        std::map<std::uint32_t, secret> keys;
        for (const auto& [version, bytes] : raw)
            if (versions.empty() || std::find(versions.begin(), versions.end(), version) != versions.end())
                keys.emplace(version, secret(bytes));
        return master_keyring::from_keys(std::move(keys)).value();
    }
};

inline test_keys make_keys(std::initializer_list<std::uint32_t> versions) {
    test_keys keys;
    for (const std::uint32_t v : versions) keys.raw[v] = random_bytes(master_key_size);
    return keys;
}

// Every form of every key (and of its first half, which is what a truncated dump would show).
inline void expect_no_key_material(std::string_view text, const std::vector<std::string>& keys) {
    for (const std::string& key : keys) {
        if (key.size() < 8) continue;  // too short to tell a leak from a coincidence (an empty file's "key")
        for (const std::string_view part : {std::string_view(key), std::string_view(key).substr(0, key.size() / 2)}) {
            EXPECT_EQ(text.find(part), std::string_view::npos) << "raw key bytes in: " << text;
            EXPECT_EQ(text.find(hex(part)), std::string_view::npos) << "hex key in: " << text;
            EXPECT_EQ(text.find(hex(part, true)), std::string_view::npos) << "HEX key in: " << text;
        }
        std::string b64 = base64(key);
        EXPECT_EQ(text.find(b64.substr(0, 40)), std::string_view::npos) << "base64 key in: " << text;
        std::string b64url = b64;
        for (char& c : b64url) c = c == '+' ? '-' : c == '/' ? '_' : c;
        EXPECT_EQ(text.find(b64url.substr(0, 40)), std::string_view::npos) << "base64url key in: " << text;
    }
}

inline void expect_no_key_material(std::string_view text, const test_keys& keys) {
    std::vector<std::string> all;
    for (const auto& entry : keys.raw) all.push_back(entry.second);
    expect_no_key_material(text, all);
}

}  // namespace sessiond::vault_testing
