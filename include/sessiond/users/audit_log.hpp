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

// Reads the whole log in pages of `page` and verifies its chain (what `ibkr-sessiond audit verify`
// runs): the verdict names the first bad entry.
expected<chain_verdict> verify_audit_log(store_tx& tx, const master_keyring& keyring, std::size_t page = 1000);

}  // namespace sessiond
