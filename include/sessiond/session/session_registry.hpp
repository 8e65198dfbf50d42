#pragma once
// Every IBKR session of the process, one slot per IBKR username.
//
// The configuration says which users should have a session (desired_session); reconcile() makes it
// so. The invariant it keeps is IBKR's: one brokerage session per username. A slot holds at most
// one session object at any moment, either the active one or the one logging out (retiring); a
// replacement is created only once the retiring one has finished its logout, from whatever the
// configuration says by then. A retiring session's completion therefore never touches a newer
// session, however many reloads came while it logged out.
//
// What IBKR's limits remember of a username (its pacer: pacing, login budget, a 429 penalty)
// outlives the session objects: the slot owns it, and every session of the username draws from it.
// Where the pacer's record survives a restart is the store the factory makes for a configuration
// (by default a file in the state directory, none without one).

#include "sessiond/config/settings.hpp"
#include "sessiond/host/username_lock.hpp"
#include "sessiond/log/log.hpp"
#include "sessiond/session/connection_test.hpp"
#include "sessiond/session/session_keeper.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ssl/context.hpp>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sessiond {

// What the configuration asks for one IBKR user.
struct desired_session {
    // Shared with the session that runs it (one copy a user, not one in the registry and one in the
    // session); never changed once made: a reload makes new ones.
    std::shared_ptr<const settings> config;
    std::shared_ptr<boost::asio::ssl::context> tls;
    // What the session's log lines name it by (session=...): the account id when empty; the user id
    // in multi-user mode, where that is how the operator knows the user.
    std::string log_name;
};

// Whether two configurations are for the same IBKR login (same client, key, user, account, IP,
// environment and endpoint): only then can a reload keep the running session.
bool same_identity(const settings& a, const settings& b);

class session_registry {
public:
    using test_callback = std::function<void(const connection_test_report&)>;
    // Takes the host-wide lock of the username `config` logs in as (host/username_lock.hpp), or
    // says which process holds it. The daemon passes one; without it nothing is locked.
    using claim_function = std::function<expected<username_lock>(const settings& config)>;
    // The locks claim() took for reconcile(), one per desired user (none where the registry holds
    // that lock already).
    using claims = std::vector<std::optional<username_lock>>;

    using store_factory = std::function<std::shared_ptr<pacing_store>(const settings& config)>;
    // `blocking` is handed to every session (see session's constructor) and to the default store.
    session_registry(boost::asio::any_io_executor executor, logger log, offload blocking = {});
    // Where each username's pacing record is kept (a database in multi-user mode).
    void use_pacing_store(store_factory make) { make_store_ = std::move(make); }
    ~session_registry();
    session_registry(const session_registry&) = delete;
    session_registry& operator=(const session_registry&) = delete;

    // Called on the event loop after any change of any session (state, snapshot, start, end).
    void on_change(std::function<void()> observer) { observer_ = std::move(observer); }
    // Called on the event loop after any change of one session (a retiring one's logout included),
    // with its IBKR username and snapshot: what per-user bookkeeping needs without walking every session.
    using session_observer = std::function<void(std::string_view username, const session_snapshot& snapshot)>;
    void on_session_change(session_observer observer) { session_observer_ = std::move(observer); }
    void on_claim(claim_function claim) { claim_ = std::move(claim); }
    // Several replicas: what each session asks before every request to IBKR (session_keeper::fence),
    // made for its desired user when it starts. None: sessions are not fenced.
    using fence_factory = std::function<ibkr_client::call_permit(const desired_session& desired)>;
    void fence_sessions(fence_factory make) { make_fence_ = std::move(make); }

    // Step one of a change of configuration: every desired user's username lock, taken before
    // anything changes. An error naming the holder when another process keeps one of them: then
    // nothing was taken and the caller keeps what runs. A username this registry keeps (or is still
    // logging out of) is not claimed again: the lock it holds serves.
    expected<claims> claim(const std::vector<desired_session>& desired);
    // What every held lock answers from now on (the API address is known once the API is bound).
    void describe_self(const lock_holder& self);

    // Makes the sessions match `desired` (at most one entry per IBKR username; a later duplicate is
    // ignored with an error). Same identity: new options applied in place. Changed identity, or a
    // user no longer desired: the session logs out; its successor, if still desired then, starts
    // after that. Ignored once stop() was called.
    void reconcile(std::vector<desired_session> desired, claims taken = {});

    // One user's part of reconcile(), the other users left as they are: what multi-user mode does
    // when one user's credentials change (reconcile() walks every user: n additions cost n^2).
    void reconcile_one(desired_session desired);
    // One username no longer desired (its session logs out), the others left as they are. `ended`
    // runs on the event loop once no session of the username runs any more (its logout done).
    void let_go_one(std::string_view username, const char* why, std::function<void()> ended = {});

    // Every session logs out (bounded by the session's logout budget); done runs on the event loop
    // once all have ended.
    void stop(std::function<void()> done);

    // One configured user, as the status reports it: the running session, or null while it waits
    // for its predecessor's logout.
    struct user_view {
        const settings* config;
        const session_keeper* running;
        std::string_view name = {};  // desired_session::log_name (multi-user mode: the user id); empty if none
    };
    // The desired users in username order.
    [[nodiscard]] std::vector<user_view> users() const;
    // One desired user by IBKR username, without walking the others; none when not desired.
    [[nodiscard]] std::optional<user_view> user(std::string_view username) const;
    // Usernames with a session (running or logging out) or one wanted; not those kept for their pacer.
    [[nodiscard]] std::size_t size() const noexcept;

    // The session the gateway sends a user's calls with: `username`'s (the first user's when empty),
    // null while none runs. Empty when no such user is desired.
    struct gateway_target {
        std::string_view username;
        session_keeper* session = nullptr;
    };
    [[nodiscard]] std::optional<gateway_target> gateway_target_for(std::string_view username = {});

    // The guide's Test Connection on `username`'s session (the first user's when empty). A session
    // still waiting for its predecessor runs the test once it has started. False when no such user
    // is desired.
    bool run_test(const std::string& username, test_callback done);

    // The pacer of `config`'s IBKR username, for a call made outside its sessions (multi-user mode's
    // proof of a new credential): the one its sessions use, or one made now and kept for its next
    // session. A username no longer desired keeps its pacer while a call holds it or it counts a
    // login within the hour: a proof made while another user's change reconciled, or a user removed
    // and added again, never starts the username's login budget afresh.
    std::shared_ptr<username_pacer> pacer_for(const settings& config);
    // The connections to IBKR every session's calls share (idle_connections.hpp): a session holds one
    // only while a call of its is in flight.
    [[nodiscard]] const std::shared_ptr<idle_connections>& shared_connections() const noexcept { return idle_connections_; }

    // True when some session's call has outlived its deadline twice over (see session_keeper::wedged).
    [[nodiscard]] bool wedged(std::chrono::steady_clock::time_point now) const;

private:
    struct slot {
        std::optional<desired_session> desired;  // what the configuration asks for; empty: retire
        std::unique_ptr<session_keeper> active;
        std::unique_ptr<session_keeper> retiring;        // logging out; never alongside `active`
        // IBKR's limits for this username, kept from one session to the next (username_pacer.hpp).
        std::shared_ptr<username_pacer> pacer;
        std::vector<test_callback> pending_tests;               // asked while no session was active
        std::optional<username_lock> lock;          // for `desired` (or, with none desired, the last session's)
        std::optional<username_lock> retiring_lock;  // the retiring session's, when its name differs
        std::vector<std::function<void()>> on_retired;  // let_go_one's waiters for the retiring session
    };
    [[nodiscard]] bool holds_lock(const std::string& name) const;
    void take_lock(slot& s, std::optional<username_lock> taken);

    using slot_map = std::map<std::string, slot, std::less<>>;
    // One desired session into its slot: the running session keeps it (same identity), or logs out
    // first, or it starts.
    void adopt(desired_session desired, std::optional<username_lock> taken);
    // The slot's user is no longer desired: the next slot.
    slot_map::iterator release(slot_map::iterator it, const char* why);
    void start(const std::string& username, slot& s);
    void retire(const std::string& username, slot& s);
    void on_retired(const std::string& username);
    // The users `which` names are no longer desired: their sessions log out (the slot goes once
    // that has ended, at once when there is none), their waiting tests end with `why`.
    void let_go(const std::function<bool(const std::string&)>& which, const char* why);
    // Whether a slot without a session stays for its pacer (see pacer_for).
    [[nodiscard]] bool keeps_pacer(const slot& s) const;
    void notify() const;
    void finish_stop_if_done();

    boost::asio::any_io_executor executor_;
    logger log_;
    offload blocking_;
    slot_map slots_;  // keyed by IBKR username (never logged)
    // IBKR's penalty box of each address the sessions log in from (IBKR_ALLOWED_IP), shared by the
    // pacers of its usernames; an entry goes when its last pacer does.
    std::map<std::string, std::weak_ptr<ip_penalty_box>, std::less<>> penalty_boxes_;
    std::size_t penalty_boxes_pruned_at_ = 0;
    std::shared_ptr<ip_penalty_box> penalty_box_for(std::string_view address);
    // Every username's logins take the daemon's slots (SESSIOND_DAEMON_LOGIN_INTERVAL apart).
    std::shared_ptr<login_slots> login_slots_ = std::make_shared<login_slots>(std::chrono::microseconds(0));
    std::shared_ptr<idle_connections> idle_connections_ = std::make_shared<idle_connections>();
    void share_daemon_limits(const settings& config, username_pacer& pacer);
    std::function<void()> observer_;
    session_observer session_observer_;
    claim_function claim_;
    fence_factory make_fence_;
    store_factory make_store_;
    std::vector<std::function<void()>> stop_callbacks_;
    bool stopping_ = false;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace sessiond
