#pragma once
// The sessions of multi-user mode (users/user_service.hpp's user_sessions) on the session registry:
// each user with a credential is one desired session, keyed in the registry by its IBKR username;
// the daemon's settings give every user's endpoint, timing and pacing, the credential its identity.
//
// Changes are coalesced: any number of keep() and drop() calls in one turn of the event loop make
// one reconcile of the registry (10,000 users loaded at start are one reconcile, not 10,000).
//
// In multi-user mode the host-wide username locks of single-user mode are not taken: the database
// holds each IBKR username in at most one user's credential (a unique index; user_service answers
// 409 to a second).

#include "sessiond/api/status_view.hpp"
#include "sessiond/core/offload.hpp"
#include "sessiond/session/session_registry.hpp"
#include "sessiond/users/user_service.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ssl/context.hpp>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace sessiond {

// One audit entry of a session's change.
struct session_audit_event {
    std::string action;
    std::string outcome;
    boost::json::object details;
};

// What the audit log records when a session goes from (logins_before, state_before) to `now`: a
// login when its count of logins grew; then a halt, or its stop: a logout if it ever logged in, and
// "session.stop", "not logged in" if it never did (there was no IBKR session to end). Pure.
std::vector<session_audit_event> session_audit_events(std::uint64_t logins_before, lifecycle state_before,
                                                      const session_snapshot& now);

// Whether a session has failed to reach IBKR again and again from this host: five failures in a
// row or more, the last one a connection that could not be made or finished (timeout, transport,
// TLS), outside IBKR's maintenance windows. Not IBKR's refusals (401, 403, 429, 5xx): another
// replica would hear the same. Pure.
[[nodiscard]] bool unreachable_from_here(const session_snapshot& s) noexcept;

class multi_user_sessions final : public user_sessions {
public:
    // What a user's status is built with besides the session: the daemon's configuration (kept by
    // the caller: read at each call) and its block of the status.
    struct daemon_view {
        const config_report* config = nullptr;
        std::function<bool()> stopping;
        wall_time started_at{};
    };

    multi_user_sessions(boost::asio::any_io_executor executor, session_registry& registry,
                        std::shared_ptr<boost::asio::ssl::context> tls, offload signer, daemon_view daemon);

    // At most this long a proof waits for its slot of the daemon-wide login rate; later, the answer
    // is 503 with Retry-After.
    static constexpr std::chrono::seconds max_proof_wait{5};
    boost::asio::awaitable<step_outcome> prove(const ibkr_profile& profile) override;
    void keep(const std::string& user_id, ibkr_profile profile) override;
    void drop(const std::string& user_id) override;
    [[nodiscard]] std::string state_line(std::string_view user_id) const override;
    [[nodiscard]] std::optional<boost::json::object> status(std::string_view user_id) const override;
    bool run_test(const std::string& user_id, std::function<void(const connection_test_report&)> done) override;

    // The IBKR username whose session serves `user_id`, for the gateway; none without a credential.
    [[nodiscard]] std::optional<std::string_view> username_of(std::string_view user_id) const;
    // The user whose session logs in as `username` (the registry's key), for the admin's status.
    [[nodiscard]] std::string_view user_of(std::string_view username) const;
    // The daemon's settings changed (a reload): every user's session gets them.
    void reconfigure();

    // Several replicas (replica/replica_runner.hpp): a user's session runs here only while this
    // daemon holds the user's lease, and asks `may_call` before every request to IBKR. keep() and
    // drop() still record every user's credential (for the status and the gateway's answers).
    struct lease_gate {
        std::function<bool(std::string_view user_id)> holds;
        std::function<bool(std::string_view user_id)> may_call;
        std::function<boost::json::object(std::string_view user_id)> describe;  // the status's "replica"
    };
    void use_leases(lease_gate gate);
    // The lease went (expired, taken over): the session goes without a logout (its fence says no).
    void lost(const std::string& user_id);
    // The lease goes back to be claimed by a replica with fewer users: the session logs out first;
    // returns once it has.
    boost::asio::awaitable<void> hand_back(const std::string& user_id);
    // unreachable_from_here() of the user's session here; false without one.
    [[nodiscard]] bool cut_off_from_ibkr(std::string_view user_id) const;

    // What the audit log records of a user's session: its logins, its logout, a halt.
    using session_event = std::function<void(std::string user_id, std::string action, std::string outcome,
                                             boost::json::object details)>;
    void on_session_event(session_event record) { record_ = std::move(record); }
    [[nodiscard]] std::size_t size() const noexcept { return users_.size(); }

private:
    [[nodiscard]] settings settings_for(ibkr_profile profile) const;
    [[nodiscard]] std::optional<status_input> status_input_of(std::string_view user_id) const;
    void reconcile_soon();
    // The registry's report of one session: the audit entries its change calls for.
    void session_changed(std::string_view username, const session_snapshot& snapshot);

    boost::asio::any_io_executor executor_;
    session_registry& registry_;
    std::shared_ptr<boost::asio::ssl::context> tls_;
    offload signer_;
    daemon_view daemon_;
    // user id -> the settings its session runs with (the daemon's, with the user's credential), shared
    // with the registry and the session
    std::map<std::string, std::shared_ptr<const settings>, std::less<>> users_;
    std::map<std::string, std::string, std::less<>> user_of_username_;  // IBKR username -> user id
    // What the audit log last heard of each session, by IBKR username (with the user it was for, so
    // that a session still logging out after its user went is recorded for that user).
    struct seen {
        std::string user_id;
        std::uint64_t logins = 0;
        lifecycle state = lifecycle::connecting;
    };
    std::map<std::string, seen, std::less<>> seen_;
    session_event record_;
    lease_gate leases_;  // empty: the only daemon, every user's session runs here
    [[nodiscard]] bool runs_here(std::string_view user_id) const { return !leases_.holds || leases_.holds(user_id); }
    bool reconcile_posted_ = false;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

public:
    ~multi_user_sessions() override {
        *alive_ = false;
        registry_.on_session_change(nullptr);
    }
};

}  // namespace sessiond
