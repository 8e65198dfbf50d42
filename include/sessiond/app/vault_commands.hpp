#pragma once
// The operator's commands of multi-user mode's vault: `keys status`, `keys rewrap` and `audit verify`.
// They run beside a running daemon, on the same SQLite file (WAL: the daemon's readers never wait
// for them), in small transactions, so that the daemon's writes wait a few milliseconds at most.
//
// What is printed and the exit code are decided by pure functions (key_status_of, format_key_status,
// format_rewrap_summary, audit_verify_report); the steps that touch the store are apart, and
// run_vault_command does the I/O: the settings, the master keyring, the database file.

#include "sessiond/app/cli.hpp"
#include "sessiond/config/settings.hpp"
#include "sessiond/store/credential_store.hpp"
#include "sessiond/users/audit_log.hpp"
#include "sessiond/vault/credential_record.hpp"
#include "sessiond/vault/master_keyring.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <functional>
#include <ostream>
#include <span>
#include <string>
#include <vector>

namespace sessiond {

// ---- keys status ------------------------------------------------------------------------------

// One master key version: loaded in the keyring, found in the database, or both.
struct key_version_status {
    std::int64_t version = 0;
    bool loaded = false;
    bool current = false;          // the version new records are sealed under (the highest loaded)
    std::int64_t credentials = 0;  // how many credentials it seals
    bool operator==(const key_version_status&) const = default;
};

// Every version loaded or used, in order. Pure.
std::vector<key_version_status> key_status_of(const master_keyring& keyring,
                                              std::span<const key_version_count> in_database);

// One line per version, saying which can be retired (loaded, not current, sealing no credential),
// which still seal credentials to rewrap, and which are used but not loaded. Pure.
std::string format_key_status(std::span<const key_version_status> versions);

// ---- keys rewrap ------------------------------------------------------------------------------

struct rewrap_failure {
    std::string user_id;
    std::string reason;  // record_error's message: never quotes the record
};

struct rewrap_tally {
    std::uint32_t to_version = 0;
    std::int64_t rewrapped = 0;
    // Replaced or deleted while the command ran, and no longer under an older version: nothing to do.
    std::int64_t skipped = 0;
    std::vector<rewrap_failure> failed;  // not rewrapped, left as they were
};

// "keys rewrap: 3 rewrapped to master key version 2, 1 skipped (changed meanwhile), 1 failed". Pure.
std::string format_rewrap_summary(const rewrap_tally& tally);

// What was done with one row.
enum class rewrap_step {
    rewrapped,
    changed_meanwhile,  // rewrap_credential only: the row changed since it was read
    skipped,            // rewrap_row only: read again, it was gone or no longer under an older version
    failed,
};

struct rewrap_step_result {
    rewrap_step step = rewrap_step::rewrapped;
    std::string reason;  // failed: why the record did not open
};

// In one transaction: `row`'s record wrapped under the keyring's current version and written if the
// row still has row.etag, with its audit entry (actor "admin", source "local", action "key.rewrap",
// target the user, details: from/to key version and the key's fingerprint). changed_meanwhile when
// the row changed since it was read: nothing written. A record that does not open is not written;
// its audit entry says why (outcome "failed").
expected<rewrap_step_result> rewrap_credential(store_tx& tx, const master_keyring& keyring, const credential_row& row,
                                               std::int64_t at_ms);

// rewrap_credential, and when the row changed since it was read (a page of
// credentials_with_key_version, read in an earlier transaction), read again and rewrapped in the same
// transaction, unless it is gone or no longer under an older version (skipped).
expected<rewrap_step_result> rewrap_row(store_tx& tx, const master_keyring& keyring, const credential_row& row,
                                        std::int64_t at_ms);

using unix_ms_clock = std::function<std::int64_t()>;

// Every credential under a version below the keyring's current one, page by page, rewrap_row in one
// transaction per credential. on_failure is told each record that does not open, as it happens.
boost::asio::awaitable<expected<rewrap_tally>> rewrap_all(credential_store& store, const master_keyring& keyring,
                                                          unix_ms_clock now_ms,
                                                          std::function<void(const rewrap_failure&)> on_failure,
                                                          std::size_t page = 100);

// ---- audit verify -----------------------------------------------------------------------------

struct command_report {
    int exit_code = exit_ok;
    std::string text;  // lines, each ending with '\n'
};

// Intact and fully verified: exit 0, "audit log intact: N entries". A bad entry: exit 1, naming its
// seq and what is wrong. Entries under a version not loaded are listed as unverifiable (not as
// tampering) and fail the verification (exit 1) unless allow_unverifiable. Pure.
command_report audit_verify_report(const audit_log_verdict& verdict, bool allow_unverifiable);

// ---- the commands -----------------------------------------------------------------------------

// Runs cli.what (keys status, keys rewrap or audit verify) with `report`'s settings and the master
// keyring that `keys` points to: the results to `out`, why it cannot run to `err`. The exit code:
// 78 without a master key, without the database file, or when the settings that place it are wrong
// (the others, such as the IBKR identity of single-user mode, are not these commands' business).
int run_vault_command(const command_line& cli, config_report report, const keyring_environment& keys,
                      std::ostream& out, std::ostream& err);

}  // namespace sessiond
