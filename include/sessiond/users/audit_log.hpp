#pragma once
// The audit log of multi-user mode: every user and credential operation, every decryption of a key,
// every login, logout and halt, every denied request. An entry is appended in the same database
// transaction as the change it records (store_tx), chained to the previous entry by its MAC
// (vault/audit_chain.hpp) under the master keyring's current version.
//
// This is the one place where the store's rows and the vault's entries meet: the conversions in
// both directions are here, so that verification reads exactly what was sealed.

#include "sessiond/core/error.hpp"
#include "sessiond/store/credential_store.hpp"
#include "sessiond/vault/audit_chain.hpp"
#include "sessiond/vault/master_keyring.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sessiond {

// What happened, before it is numbered, timed and sealed. `details` holds non-secret values only
// (a key fingerprint, a key version, an HTTP status): never a key, token or request body.
struct audit_event {
    std::string actor;    // "admin", a user id, or "daemon"
    std::string source;   // the peer's address, or "local"
    std::string action;   // "user.create", "credential.replace", "key.decrypt", "request.denied" ...
    std::string target;   // the user id acted on
    std::string outcome;  // "ok", "refused", "failed", or a reason
    boost::json::object details;
};

audit_row to_audit_row(const audit_entry& e);
expected<audit_entry> to_audit_entry(const audit_row& r);

// In a transaction: the log's next entry for `event` at `at_ms`, sealed and appended. The row
// appended is returned (for the journal line); an error leaves the transaction to be rolled back.
expected<audit_row> append_audit_event(store_tx& tx, const master_keyring& keyring, const audit_event& event,
                                       std::int64_t at_ms);

// Consecutive entries MAC'd under one master key version that the keyring does not hold (a retired
// version): their MACs cannot be checked, so a verification cannot vouch for what they say.
struct unverifiable_entries {
    std::uint32_t key_version = 0;
    std::int64_t first_seq = 0;
    std::int64_t last_seq = 0;
    [[nodiscard]] std::int64_t count() const noexcept { return last_seq - first_seq + 1; }
    bool operator==(const unverifiable_entries&) const = default;
};

struct audit_log_verdict {
    // The first bad entry; intact when there is none. last_good: where the verification goes on.
    chain_verdict chain;
    std::int64_t entries = 0;  // how many entries were read while the chain was intact
    // Passed over, not failed: the chain goes on from such an entry's stored MAC, so the entries
    // after it are verified, and a gap in seq or a changed MAC is still found. Only their own
    // content is not vouched for.
    std::vector<unverifiable_entries> unverifiable;
    // Intact, and every entry verified.
    [[nodiscard]] bool fully_verified() const noexcept { return chain.intact() && unverifiable.empty(); }
};

// Reads the whole log in pages of `page` and verifies its chain: the verdict names the first bad
// entry, and the entries it could not verify.
expected<audit_log_verdict> verify_audit_log(store_tx& tx, const master_keyring& keyring, std::size_t page = 1000);

// One page of that: the next `page` entries after those `so_far` covers, chained on from them. True
// while there may be more to read; false when the log is done (so_far is then the whole log's
// verdict) or its chain is broken. What `ibkr-sessiond audit verify` runs, a transaction per page,
// so that a long log never holds the database from the daemon.
expected<bool> verify_audit_page(store_tx& tx, const master_keyring& keyring, audit_log_verdict& so_far,
                                 std::size_t page = 1000);

}  // namespace sessiond
