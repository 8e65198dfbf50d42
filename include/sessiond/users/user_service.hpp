#pragma once
// The user directory of multi-user mode (user_directory.hpp) over the store and the vault: users and
// their API tokens, each user's IBKR credential sealed at rest, the audit entry of every operation
// in the transaction of its change, and the sessions kept for the users with credentials.
//
// What it needs from the rest of the daemon is behind user_sessions: proving a credential against
// IBKR (the OAuth token step only, paced as the username's other calls) and starting, replacing and
// ending a user's session. The daemon's implementation drives the session registry; tests drive
// their own.
//
// Memory: the token index (SHA-256 of each user's token → user id), nothing else per user (the
// sessions keep each user's identity). Every database call runs on the store's thread.

#include "sessiond/ibkr/outcome.hpp"
#include "sessiond/ibkr/profile.hpp"
#include "sessiond/log/log.hpp"
#include "sessiond/store/credential_store.hpp"
#include "sessiond/users/audit_log.hpp"
#include "sessiond/users/user_directory.hpp"
#include "sessiond/vault/master_keyring.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <unordered_map>

namespace sessiond {

class user_sessions {
public:
    virtual ~user_sessions() = default;
    // The OAuth token step alone with `profile`, paced by its username's pacer: never an SSO or
    // brokerage session, so that a session running elsewhere is not taken over.
    virtual boost::asio::awaitable<step_outcome> prove(const ibkr_profile& profile) = 0;
    // The user's session runs with `profile` from now on (started, or restarted when it changed).
    virtual void keep(const std::string& user_id, ibkr_profile profile) = 0;
    // The user's session logs out and goes (nothing when the user has none).
    virtual void drop(const std::string& user_id) = 0;
    // One line: "connected", "authenticating", ... ("no credentials" when none is kept).
    [[nodiscard]] virtual std::string state_line(std::string_view user_id) const = 0;
    // GET /api/ibkr/status's JSON for the user; none when no session is kept.
    [[nodiscard]] virtual std::optional<boost::json::object> status(std::string_view user_id) const = 0;
    // False when the user has no session.
    virtual bool run_test(const std::string& user_id, std::function<void(const connection_test_report&)> done) = 0;
};

class user_service final : public user_directory {
public:
    user_service(boost::asio::any_io_executor executor, credential_store& store,
                 std::shared_ptr<const master_keyring> keyring, user_sessions& sessions, logger log);
    // The master keys from now on (a reload found a new version): new records and audit entries use
    // its current version. Transactions already queued finish with the keyring they started with.
    void use_keyring(std::shared_ptr<const master_keyring> keyring) { keyring_ = std::move(keyring); }

    // At start: reads every user's token hash and opens every credential (one "key.decrypt" audit
    // entry each, with its outcome), and keeps a session for each credential that opened. A
    // credential that does not open (tampered, unknown key version) is reported and left alone.
    // The error is the store's: then the daemon cannot serve multi-user mode.
    boost::asio::awaitable<expected<std::size_t>> load();

    // The user's credential as the database has it now (another replica may have written it): its
    // session is kept with it, or dropped when there is none. A failure is logged; false when the
    // database could not be read (the session is as it was; a credential that does not open was
    // read: true).
    boost::asio::awaitable<bool> refresh(std::string id);
    // A NOTIFY of another replica ("<replica>/<user id>", sent when its change committed): the
    // user's token and credential are read again (nothing for this replica's own).
    boost::asio::awaitable<void> heard_from_replica(std::string payload);
    // Every user's API token read again (`only`: that user's), e.g. after notifications were missed.
    boost::asio::awaitable<void> reload_tokens(std::string only = {});

    [[nodiscard]] std::optional<std::string> user_for_token(std::string_view token) const override;

    boost::asio::awaitable<user_result<user_created>> create_user(const caller& by, std::string id) override;
    boost::asio::awaitable<user_result<secret>> replace_token(const caller& by, std::string id) override;
    boost::asio::awaitable<user_result<std::monostate>> delete_user(const caller& by, std::string id) override;
    boost::asio::awaitable<user_result<user_page>> list_users(const caller& by, std::string after,
                                                              std::size_t limit) override;

    boost::asio::awaitable<user_result<credential_stored>> put_credentials(const caller& by, std::string id,
                                                                           std::string body,
                                                                           std::optional<std::string> if_match) override;
    boost::asio::awaitable<user_result<credential_metadata>> get_credentials(const caller& by, std::string id) override;
    boost::asio::awaitable<user_result<std::monostate>> delete_credentials(const caller& by, std::string id) override;

    user_result<boost::json::object> user_status(std::string_view id) const override;
    bool run_test(const std::string& id, std::function<void(const connection_test_report&)> done) override;

    boost::asio::awaitable<user_result<std::vector<audit_entry_view>>> audit_page(const caller& by,
                                                                                 audit_page_request request) override;
    void record_denied(std::string source, std::string actor, std::string path, unsigned status) override;
    // A user's session logged in, out, or halted: one audit entry (fire and forget, as a denied request).
    void record_session_event(std::string user_id, std::string action, std::string outcome,
                              boost::json::object details);
    [[nodiscard]] bool store_reachable() const override { return store_reachable_; }
    boost::asio::awaitable<user_result<boost::json::object>> replicas(const caller& by) override;
    // As one of several replicas: this one's name, and how recent a heartbeat counts as live.
    void serve_replicas(std::string this_replica, std::chrono::milliseconds live_within) {
        replica_id_ = std::move(this_replica);
        live_within_ = live_within;
    }

private:
    // The journal line of an appended entry (the audit log's copy for people reading journalctl).
    void journal(const audit_row& row) const;
    void journal(const std::vector<audit_row>& rows) const;
    // A store error, as the API answers it (503: the database may come back) and as the log says it.
    user_problem store_failed(std::string_view what, const error& e);
    // The store's transaction; whether it answered is what readiness reports.
    template <class F>
    boost::asio::awaitable<std::invoke_result_t<F&, store_tx&>> transact(F fn) {
        auto result = co_await store_.transact(std::move(fn));
        store_reachable_ = result.has_value();
        co_return result;
    }
    // In one transaction: `change(tx, ev)` (expected<R>, which may set the event's outcome and
    // details), then the event's audit entry; the entry goes to the journal once committed.
    template <class R, class Change>
    boost::asio::awaitable<expected<R>> audited(audit_event ev, Change change);
    // Appends `ev` on its own (no change goes with it), queued and written in batches by one
    // writer; a failure is logged. from_a_client: a denied request, which the queue bounds.
    void append_later(audit_event ev, bool from_a_client);
    boost::asio::awaitable<void> write_pending_appends();

    boost::asio::any_io_executor executor_;
    credential_store& store_;
    std::shared_ptr<const master_keyring> keyring_;
    user_sessions& sessions_;
    logger log_;
    // SHA-256 of a token (as raw bytes in a string) → user id.
    std::unordered_map<std::string, std::string> token_index_;
    bool store_reachable_ = true;
    // Entries appended on their own (denied requests, session events) waiting for the database; of
    // them, how many came from clients (bounded), and the clients' entries counted instead of
    // written while that bound was reached.
    struct pending_append {
        audit_event event;
        bool from_a_client = false;
    };
    static constexpr std::size_t max_pending_client_entries = 1024;
    static constexpr std::size_t append_batch = 256;
    std::deque<pending_append> pending_appends_;
    bool writing_appends_ = false;
    std::size_t client_entries_pending_ = 0;
    std::size_t unrecorded_ = 0;
    std::string replica_id_;  // empty: the only daemon of its database
    std::chrono::milliseconds live_within_{0};
};

}  // namespace sessiond
