#include "sessiond/vault/audit_chain.hpp"

#include "sessiond/vault/canonical_encoding.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <fmt/format.h>

#include <map>
#include <memory>

namespace sessiond {

namespace {

constexpr std::string_view entry_label = "ibkr-sessiond audit v1";
constexpr std::string_view audit_salt = "ibkr-sessiond audit";
constexpr std::string_view audit_info = "audit chain v1";

struct kdf_free { void operator()(EVP_KDF* k) const { EVP_KDF_free(k); } };
struct kdf_ctx_free { void operator()(EVP_KDF_CTX* c) const { EVP_KDF_CTX_free(c); } };

chain_verdict fault(chain_fault kind, std::int64_t seq, std::string message, const std::optional<chain_anchor>& last) {
    return chain_verdict{kind, seq, std::move(message), last};
}

}  // namespace

std::string canonical_audit_entry(const audit_entry& entry) {
    return canonical_fields()
        .text(entry_label)
        .i64(entry.seq)
        .i64(entry.at_ms)
        .text(entry.actor)
        .text(entry.source)
        .text(entry.action)
        .text(entry.target)
        .text(entry.outcome)
        .text(entry.details)
        .u32(entry.key_version)
        .bytes();
}

expected<secret> derive_audit_key(const secret& master_key) {
    const std::unique_ptr<EVP_KDF, kdf_free> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
    const std::unique_ptr<EVP_KDF_CTX, kdf_ctx_free> ctx(kdf ? EVP_KDF_CTX_new(kdf.get()) : nullptr);
    if (!ctx) return make_error("HKDF is not available in OpenSSL");

    // OSSL_PARAM takes non-const pointers; HKDF only reads them.
    std::string digest = "SHA256";
    std::string ikm(master_key.reveal());
    std::string salt(audit_salt);
    std::string info(audit_info);
    const OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest.data(), 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, ikm.data(), ikm.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt.data(), salt.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info.data(), info.size()),
        OSSL_PARAM_construct_end(),
    };
    std::string key(audit_mac_size, '\0');
    const bool ok = EVP_KDF_derive(ctx.get(), reinterpret_cast<unsigned char*>(key.data()), key.size(), params) == 1;
    wipe(ikm);
    if (!ok) {
        wipe(key);
        return make_error("HKDF-SHA256 failed in OpenSSL");
    }
    return secret(std::move(key));
}

expected<audit_mac> audit_entry_mac(const secret& audit_key, const audit_mac& previous, const audit_entry& entry) {
    std::string input(reinterpret_cast<const char*>(previous.data()), previous.size());
    input += canonical_audit_entry(entry);
    audit_mac mac{};
    unsigned int length = 0;
    const std::string_view key = audit_key.reveal();
    if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(input.data()),
             input.size(), mac.data(), &length) == nullptr ||
        length != mac.size())
        return make_error("HMAC-SHA256 failed in OpenSSL");
    return mac;
}

expected<audit_entry> seal_entry(const master_keyring& keyring, const std::optional<audit_mac>& previous,
                                 audit_entry entry) {
    if (entry.seq < 1) return make_error("audit entries are numbered from 1");
    entry.key_version = keyring.current_version();
    auto key = derive_audit_key(*keyring.key(entry.key_version));
    if (!key) return key.error();
    auto mac = audit_entry_mac(*key, previous.value_or(audit_mac{}), entry);
    if (!mac) return mac.error();
    entry.mac = *mac;
    return entry;
}

chain_verdict verify_chain(const master_keyring& keyring, std::span<const audit_entry> entries,
                           const std::optional<chain_anchor>& start, std::optional<std::int64_t> expected_last_seq) {
    std::optional<chain_anchor> last = start;
    std::map<std::uint32_t, secret> audit_keys;  // derived once per version
    for (const audit_entry& entry : entries) {
        const std::int64_t expected_seq = last ? last->seq + 1 : 1;
        if (entry.seq != expected_seq) {
            if (!last)
                return fault(chain_fault::bad_first_seq, entry.seq,
                             fmt::format("the audit log starts at seq {}, not 1: its first entries were deleted",
                                         entry.seq),
                             last);
            return fault(chain_fault::seq_gap, entry.seq,
                         fmt::format("audit entry seq {} follows seq {}: {}", entry.seq, last->seq,
                                     entry.seq > expected_seq ? "entries were deleted or moved"
                                                              : "entries were repeated or moved"),
                         last);
        }
        auto found = audit_keys.find(entry.key_version);
        if (found == audit_keys.end()) {
            const secret* master = keyring.key(entry.key_version);
            if (!master)
                return fault(chain_fault::unknown_key_version, entry.seq,
                             fmt::format("audit entry seq {}: {}", entry.seq, unknown_key_version_message(entry.key_version)),
                             last);
            auto derived = derive_audit_key(*master);
            if (!derived) return fault(chain_fault::internal, entry.seq, derived.error().message, last);
            found = audit_keys.emplace(entry.key_version, std::move(*derived)).first;
        }
        const auto mac = audit_entry_mac(found->second, last ? last->mac : audit_mac{}, entry);
        if (!mac) return fault(chain_fault::internal, entry.seq, mac.error().message, last);
        if (CRYPTO_memcmp(mac->data(), entry.mac.data(), audit_mac_size) != 0)
            return fault(chain_fault::mac_mismatch, entry.seq,
                         fmt::format("audit entry seq {} does not match its MAC: it was edited, "
                                     "or entries were reordered",
                                     entry.seq),
                         last);
        last = chain_anchor{entry.seq, entry.mac};
    }
    const std::int64_t last_seq = last ? last->seq : 0;
    if (expected_last_seq && last_seq < *expected_last_seq)
        return fault(chain_fault::truncated, last_seq + 1,
                     fmt::format("the audit log ends at seq {} but seq {} was written: its tail was cut off", last_seq,
                                 *expected_last_seq),
                     last);
    return chain_verdict{chain_fault::none, 0, {}, last};
}

}  // namespace sessiond
