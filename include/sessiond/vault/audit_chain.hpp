#pragma once
// The pure logic of the append-only audit log: each entry carries an HMAC over the previous entry's
// MAC and its own canonical form, so that editing, reordering or deleting an entry breaks the chain
// at that entry.
//
//   audit key (version v) = HKDF-SHA256(ikm = master key v, salt = "ibkr-sessiond audit",
//                                       info = "audit chain v1"), 32 bytes
//   mac_n = HMAC-SHA256(audit key of entry n's key_version, mac_{n-1} || canonical(entry n))
//   mac_0 = 32 zero bytes
//
// What a chain cannot show by itself: entries cut off its tail. The remaining entries still verify;
// only an anchor kept elsewhere (the last seq and MAC written to the journal, say) reveals that
// entries after it are gone: pass it as expected_last_seq, or as the start of the next verification.

#include "sessiond/core/error.hpp"
#include "sessiond/core/secret.hpp"
#include "sessiond/vault/master_keyring.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace sessiond {

inline constexpr std::size_t audit_mac_size = 32;
using audit_mac = std::array<std::uint8_t, audit_mac_size>;

struct audit_entry {
    std::int64_t seq = 0;    // 1-based, consecutive
    std::int64_t at_ms = 0;  // unix milliseconds, UTC
    std::string actor;       // "admin", a user id, or "daemon"
    std::string source;      // the peer's address, or "local"
    std::string action;
    std::string target;
    std::string outcome;
    std::string details;  // a compact JSON object of non-secret values, as the caller wrote it
    std::uint32_t key_version = 0;  // the master key version whose audit key MACs this entry
    audit_mac mac{};
};

// ("ibkr-sessiond audit v1", seq, at_ms, actor, source, action, target, outcome, details,
// key_version) in the canonical encoding; seq and at_ms as 8-byte fields, key_version as 4. The MAC
// itself is not part of it.
std::string canonical_audit_entry(const audit_entry& entry);

// The audit key of one master key.
expected<secret> derive_audit_key(const secret& master_key);

// HMAC-SHA256(audit_key, previous || canonical_audit_entry(entry)).
expected<audit_mac> audit_entry_mac(const secret& audit_key, const audit_mac& previous, const audit_entry& entry);

// The entry with key_version set to the keyring's current version and its MAC computed.
// previous: the MAC of the entry before it, nullopt for the first entry of the log (mac_0).
expected<audit_entry> seal_entry(const master_keyring& keyring, const std::optional<audit_mac>& previous,
                                 audit_entry entry);

// Where a verification starts when it does not start at the log's first entry: the seq and MAC of
// the entry just before the first one given (e.g. the last one a previous verification accepted).
struct chain_anchor {
    std::int64_t seq = 0;
    audit_mac mac{};
};

enum class chain_fault {
    none,
    bad_first_seq,        // verifying from the start, the first entry is not seq 1: the log's head was deleted
    seq_gap,              // a seq other than the previous (or the anchor's) + 1: entries deleted, or moved
    unknown_key_version,  // MAC'd under a master key version the keyring lacks
    mac_mismatch,         // the entry or one before it was edited, or entries were reordered
    truncated,            // fewer entries than the external anchor says were written
    internal,             // OpenSSL failed
};

struct chain_verdict {
    chain_fault fault = chain_fault::none;
    std::int64_t bad_seq = 0;  // the seq of the first bad entry (for truncated: the first missing one)
    std::string message;       // empty when intact; never quotes details or MACs
    // The last entry that verified, the anchor for verifying what is appended later.
    std::optional<chain_anchor> last_good;
    [[nodiscard]] bool intact() const noexcept { return fault == chain_fault::none; }
};

// Verifies entries in order and stops at the first bad one. Without start, entries[0] must be seq 1
// and chain from mac_0. With expected_last_seq (from an external anchor), a chain that ends before
// that seq is reported as truncated; a longer one is fine (entries appended since).
chain_verdict verify_chain(const master_keyring& keyring, std::span<const audit_entry> entries,
                           const std::optional<chain_anchor>& start = std::nullopt,
                           std::optional<std::int64_t> expected_last_seq = std::nullopt);

}  // namespace sessiond
