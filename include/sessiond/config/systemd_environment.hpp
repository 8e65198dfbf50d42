#pragma once
// Where the configuration meets systemd and the process: the environment (which EnvironmentFile= may
// have filled from the env file) and the credentials in $CREDENTIALS_DIRECTORY.

#include "sessiond/config/settings.hpp"

#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace sessiond {

// The systemd credentials the daemon reads (LoadCredential= in the unit).
inline constexpr std::string_view private_key_credential = "ibkr-private-key";
inline constexpr std::string_view api_token_credential = "sessiond-api-token";
inline constexpr std::string_view gateway_token_credential = "sessiond-gateway-token";

// Reads the process environment (environ and $CREDENTIALS_DIRECTORY) into config_sources.
config_sources sources_from_process(std::optional<std::filesystem::path> env_file);

// The path of credential `name` when the directory holds it. One we may not even stat is still
// there: reading it reports why it fails. A blank one (empty, or only a line break) is not there:
// it is what the unit's SetCredential= fallback gives when the operator has not added the file yet
// (systemd 252 has no optional LoadCredential=, and SetCredential= refuses an empty value).
std::optional<std::filesystem::path> find_credential(const std::optional<std::filesystem::path>& directory,
                                                     std::string_view name);

// The environment variables holding the value the env file gives them (exactly, or followed by the
// inline "# comment" that systemd keeps in a value). Under systemd,
// EnvironmentFile= copied them from that same file at start; a SIGHUP reload re-reads the file,
// and for those variables the file must decide (else a stale copy would win over every edit).
// Call once at start; empty without an env file or when it cannot be read.
std::set<std::string> environment_copied_from_env_file(const config_sources& sources);
// Drops (and wipes) these variables from the environment, so that the env file decides them.
void forget_environment(config_sources& sources, const std::set<std::string>& names);

}  // namespace sessiond
