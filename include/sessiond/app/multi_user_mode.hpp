#pragma once
// Multi-user mode (ENABLE_MULTI_USER=true) as the daemon runs it: the master keyring, the database,
// the users' sessions on the registry and the user directory the API and the gateway ask. Made at
// start, before the event loop runs; load() then reads the users and starts their sessions.

#include "sessiond/app/multi_user_sessions.hpp"
#include "sessiond/store/credential_store.hpp"
#include "sessiond/users/user_service.hpp"
#include "sessiond/vault/master_keyring.hpp"

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
        std::optional<std::filesystem::path> master_key_file;  // SESSIOND_MASTER_KEY_FILE
    };

    // The keyring from the systemd credentials or SESSIOND_MASTER_KEY_FILE and the database at
    // `database`, opened (and migrated) before the event loop runs. The error says what is missing
    // and how to make it; the daemon then exits 78.
    static expected<std::unique_ptr<multi_user_mode>> open(parts with, const std::filesystem::path& database);

    // Reads the users and starts a session for each credential; what the log and readiness report
    // when the database fails.
    boost::asio::awaitable<void> load();

    [[nodiscard]] user_service& users() noexcept { return *users_; }
    [[nodiscard]] multi_user_sessions& sessions() noexcept { return *sessions_; }
    // The IBKR username whose session a user's API token reaches (the gateway's question).
    [[nodiscard]] std::optional<std::string> username_for_token(std::string_view token) const;

private:
    multi_user_mode() = default;

    logger log_;
    std::optional<master_keyring> keyring_;
    std::unique_ptr<credential_store> store_;
    std::unique_ptr<multi_user_sessions> sessions_;
    std::unique_ptr<user_service> users_;
};

}  // namespace sessiond
