#include "sessiond/app/database_target.hpp"

namespace sessiond {

expected<database_target> database_target_of(const service_options& svc, bool as_the_daemon) {
    if (!svc.database_server.empty())
        return database_target{credential_store::postgresql_opener(
                                   svc.database_server, !as_the_daemon            ? daemon_lock::none
                                                        : svc.replica_id.empty() ? daemon_lock::alone
                                                                                 : daemon_lock::replica), "PostgreSQL",
                               std::nullopt};
    auto file = database_file(svc);
    if (!file) return file.error();
    return database_target{credential_store::sqlite_opener(*file), "the SQLite file " + file->string(), *file};
}

}  // namespace sessiond
