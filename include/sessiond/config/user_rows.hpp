#pragma once
// One IBKR user's rows of the schema (variable_scope::user): identity, private key, endpoint and the
// region's maintenance calendar. Single-user mode reads them from the environment and env file;
// multi-user mode will read them from a database row. Both go through load_user_rows().

#include "sessiond/config/variable_reader.hpp"
#include "sessiond/ibkr/profile.hpp"

#include <filesystem>
#include <optional>
#include <span>
#include <string_view>

namespace sessiond {

// What a user's rows may refer to on this host besides their values.
struct user_host {
    std::optional<std::filesystem::path> credentials_directory;  // the systemd credential ibkr-private-key
    std::optional<std::filesystem::path> tzdir;                  // TZDIR: where IBKR_REGION's zone is read
};

// Reads every user-scoped row through `in` into `profile` and the user's fields of `options` (the
// others are left as they are), reporting each problem through `in`.
void load_user_rows(variable_reader& in, const user_host& host, ibkr_profile& profile, session_options& options);
// Only the identity and the private key (IBKR_CLIENT_ID, IBKR_CLIENT_KEY_ID, IBKR_CREDENTIAL,
// IBKR_ACCOUNT_ID, IBKR_ALLOWED_IP, IBKR_ENV, IBKR_SCOPE and the key's sources), by the same rules:
// what a user's credential record holds in multi-user mode. Reads no file unless a key file is named.
void load_user_identity(variable_reader& in, const user_host& host, ibkr_profile& profile);
// Multi-user mode: the rows every user shares (IBKR_BASE_URL, IBKR_CA_FILE, IBKR_COMPETE and the
// region's maintenance calendar), read once for the daemon; each user's identity is their credential.
void load_shared_user_rows(variable_reader& in, const user_host& host, session_options& options);
// The variables load_user_identity reads: in multi-user mode they are ignored (with a warning).
std::span<const std::string_view> identity_variables();

}  // namespace sessiond
