#pragma once
// Which database multi-user mode and the vault commands open, from the settings: the SQLite file
// (SESSIOND_DATABASE's path, or the default in the state directory) or the PostgreSQL server
// (SESSIOND_DATABASE's connection string).

#include "sessiond/config/settings.hpp"
#include "sessiond/store/credential_store.hpp"

#include <filesystem>
#include <optional>
#include <string>

namespace sessiond {

struct database_target {
    credential_store::database_opener opener;
    // For messages: "the SQLite file /path" or "PostgreSQL" (the server names itself once connected,
    // without its password).
    std::string name;
    std::optional<std::filesystem::path> file;  // the SQLite file; none for a server
};

// After use_state_directory(): the target, or what to set when there is none. Pure: opens nothing.
// as_the_daemon: a PostgreSQL server is opened holding its one-daemon lock (postgresql_database.hpp),
// shared when SESSIOND_REPLICA_ID makes the daemon one of several; the operator's commands beside
// the daemon open it without.
expected<database_target> database_target_of(const service_options& svc, bool as_the_daemon);

}  // namespace sessiond
