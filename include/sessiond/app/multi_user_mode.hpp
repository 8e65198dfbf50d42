#pragma once
// Multi-user mode (ENABLE_MULTI_USER=true) as the daemon runs it: the master keyring, the database,
// the users' sessions on the registry and the user directory the API and the gateway ask. Made at
// start, before the event loop runs; load() then reads the users and starts their sessions.

#include "sessiond/app/database_target.hpp"
#include "sessiond/app/multi_user_sessions.hpp"
#include "sessiond/replica/replica_runner.hpp"
#include "sessiond/store/postgresql_listener.hpp"
#include "sessiond/store/credential_store.hpp"
#include "sessiond/users/user_service.hpp"
#include "sessiond/vault/master_keyring.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

namespace sessiond {

class multi_user_mode {
public:
    struct parts {
        boost::asio::any_io_executor executor;
        session_registry& registry;
        std::shared_ptr<boost::asio::ssl::context> tls;
        offload signer;
        multi_user_sessions::daemon_view daemon;
        logger log;
        // The settings being started with (daemon's view reads the daemon's own once it runs).
        const settings& values;
    };

    // With the master keys (read_keyring) and the database (database_target.hpp), opened (and
    // migrated) before the event loop runs. The error says what failed; the daemon then exits 78.
    static expected<std::unique_ptr<multi_user_mode>> open(parts with, master_keyring keys, database_target database);

    // Reads the users and starts a session for each credential (as one of several replicas: starts
    // the lease rounds, and a session for each user whose lease this daemon takes); what the log and
    // readiness report when the database fails.
    boost::asio::awaitable<void> load();
    // The daemon begins to stop: a replica claims no more users (its renewals go on while the
    // sessions log out).
    void stopping();
    // The sessions have logged out: a replica releases its leases for the others.
    boost::asio::awaitable<void> finish();
    // As one of several replicas; null for the only daemon of its database.
    [[nodiscard]] replica_runner* replica() noexcept { return replica_.get(); }

    [[nodiscard]] user_service& users() noexcept { return *users_; }
    // The SQLite file, or the PostgreSQL server as "postgresql user@host:port/database".
    [[nodiscard]] const std::string& database_where() const noexcept { return store_->where(); }
    [[nodiscard]] multi_user_sessions& sessions() noexcept { return *sessions_; }
    // The master keys from the systemd credentials directory of the process, or the key file the
    // settings name (SESSIOND_MASTER_KEY_FILE). Reads files: off the loop once it runs.
    static expected<master_keyring> read_keyring(const std::optional<std::filesystem::path>& master_key_file);
    // A reload read the keys again: a version added for a rotation is used from now on.
    void use_keyring(master_keyring keyring);
    [[nodiscard]] const master_keyring& keyring() const noexcept { return *keyring_; }

    // The IBKR username whose session a user's API token reaches (the gateway's question).
    [[nodiscard]] std::optional<std::string> username_for_token(std::string_view token) const;

private:
    multi_user_mode() = default;

    logger log_;
    std::shared_ptr<const master_keyring> keyring_;
    // The loop the store was opened on (the daemon's does not run yet). Destroyed after the store,
    // whose thread may still be returning from its post to it (ThreadSanitizer saw that race when
    // it was a local).
    std::unique_ptr<boost::asio::io_context> opening_;
    std::unique_ptr<credential_store> store_;
    std::unique_ptr<credential_store> lease_store_;  // as a replica: the leases' own connection
    std::unique_ptr<multi_user_sessions> sessions_;
    std::unique_ptr<user_service> users_;
    std::unique_ptr<replica_runner> replica_;
    // As a replica: what the others change, heard at once (LISTEN sessiond_users). Destroyed first.
    secret database_server_;
    boost::asio::any_io_executor executor_;
    // The wait before reading the users again after a failed start-up read; stopping ends it.
    std::unique_ptr<boost::asio::steady_timer> retry_timer_;
    bool stopping_ = false;
    std::unique_ptr<postgresql_listener> listener_;
};

}  // namespace sessiond
