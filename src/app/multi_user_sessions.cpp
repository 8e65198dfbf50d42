#include "sessiond/app/multi_user_sessions.hpp"

#include "sessiond/ibkr/ibkr_client.hpp"
#include "sessiond/ibkr/protocol.hpp"
#include "sessiond/session/lifecycle_machine.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cmath>

namespace sessiond {

namespace asio = boost::asio;
using std::chrono::milliseconds;

multi_user_sessions::multi_user_sessions(asio::any_io_executor executor, session_registry& registry,
                                         std::shared_ptr<asio::ssl::context> tls, offload signer, daemon_view daemon)
    : executor_(std::move(executor)),
      registry_(registry),
      tls_(std::move(tls)),
      signer_(std::move(signer)),
      daemon_(std::move(daemon)) {
    registry_.on_session_change(
        [this](std::string_view username, const session_snapshot& snapshot) { session_changed(username, snapshot); });
}

std::vector<session_audit_event> session_audit_events(std::uint64_t logins_before, lifecycle state_before,
                                                      const session_snapshot& now) {
    std::vector<session_audit_event> out;
    if (now.counters.logins > logins_before)
        // A user's key is kept sealed (user_service.cpp): a login is when it is decrypted, for the
        // login's two signatures, and freed again.
        out.push_back({"session.login", "ok",
                       boost::json::object{{"logins", now.counters.logins}, {"key", "decrypted for the login's signatures"}}});
    if (now.state == state_before) return out;
    if (now.state == lifecycle::halted)
        out.push_back({"session.halt", "halted", boost::json::object{{"reason", now.halt_reason}}});
    else if (now.state == lifecycle::stopped)
        out.push_back(now.counters.logins > 0 ? session_audit_event{"session.logout", "ok", {}}
                                              : session_audit_event{"session.stop", "not logged in", {}});
    return out;
}

void multi_user_sessions::session_changed(std::string_view username, const session_snapshot& snapshot) {
    auto it = seen_.find(username);
    if (it == seen_.end()) {
        const std::string_view user = user_of(username);
        if (user.empty()) return;
        it = seen_.emplace(std::string(username), seen{std::string(user), 0, lifecycle::connecting}).first;
    }
    seen& s = it->second;
    if (record_)
        for (auto& e : session_audit_events(s.logins, s.state, snapshot))
            record_(s.user_id, std::move(e.action), std::move(e.outcome), std::move(e.details));
    s.logins = snapshot.counters.logins;
    s.state = snapshot.state;
    if (snapshot.state == lifecycle::stopped) seen_.erase(it);
}

settings multi_user_sessions::settings_for(ibkr_profile profile) const {
    settings s = daemon_.config->values;
    s.profile = std::move(profile);
    // What only the daemon uses: a session never reads it, and 10,000 copies of it (two a session:
    // the registry's and the keeper's) were a tenth of a session's memory. The tokens are the admin's
    // and the gateway's, not the user's.
    s.service.state_dirs = {};
    s.service.api_token.reset();
    s.service.api_token_source.clear();
    s.gateway.token.reset();
    s.gateway.token_source.clear();
    return s;
}

asio::awaitable<step_outcome> multi_user_sessions::prove(const ibkr_profile& profile) {
    // The proof is one OAuth token request, what IBKR counts as the start of a login: the username's
    // budget and pacing apply, and so does the daemon-wide login rate (an admin's script adding 1,000
    // users must not fire 1,000 token requests at once, or IBKR's penalty box would hold every user of
    // the address). A slot within max_proof_wait is waited for; a later one is answered with when.
    const auto shared = std::make_shared<const settings>(settings_for(profile));
    const settings& config = *shared;
    const std::shared_ptr<username_pacer> pacer = registry_.pacer_for(config);
    const std::string_view path = endpoint_of(step::oauth).path;
    const wall_time now = wall_clock::now();
    // ready_at() includes a 429 penalty (the username's or its address's box).
    const wall_time allowed = std::max(pacer->login_ready_at(now), pacer->ready_at(path, now));
    const wall_time slot = pacer->first_login_slot(allowed);
    if (slot > now + max_proof_wait) {
        const auto wait = std::chrono::ceil<std::chrono::seconds>(slot - now);
        const bool budget = allowed > now + max_proof_wait;
        step_outcome out = failed_outcome(
            step::oauth, failure::rate_limited,
            (budget ? "IBKR's limits for this username allow the next login in "
                    : "the daemon's login rate (SESSIOND_DAEMON_LOGIN_INTERVAL, all users' logins together) has the "
                      "next free slot in ") +
                std::to_string(wait.count()) + " s");
        out.retry_after = wait;
        co_return out;
    }
    // Counted when the slot is taken (the budget keeps no future times), so that a second proof for
    // the username meanwhile waits after this one; the request itself goes at the slot.
    const wall_time at = pacer->reserve_login(allowed, now);
    pacer->record_login(now);
    pacer->record_start(path, now);
    if (at > now) {
        asio::steady_timer turn(executor_, std::chrono::ceil<std::chrono::milliseconds>(at - now));
        co_await turn.async_wait(asio::use_awaitable);
    }
    ibkr_client client(executor_, tls_, std::shared_ptr<const ibkr_profile>(shared, &shared->profile),
                       std::shared_ptr<const session_options>(shared, &shared->options), signer_,
                       registry_.shared_connections());
    client.gate_logins(login_send_gate(pacer));
    step_outcome out = co_await client.call(step::oauth);
    client.forget_session();
    client.close();
    if (out.kind == failure::rate_limited) {
        const machine_settings limits = machine_settings::from(config);
        const milliseconds wait = out.retry_after ? milliseconds(*out.retry_after) : limits.rate_limit_penalty;
        pacer->penalise(wall_clock::now() + wait, out.retry_after ? penalty_scope::username : penalty_scope::address);
        if (!out.retry_after) out.retry_after = std::chrono::ceil<std::chrono::seconds>(wait);
    }
    co_return out;
}

// One user's change reaches the registry alone (reconcile_one, let_go_one): adding the 10,000th
// user costs what adding the first did, where a full reconcile for each walked every user. Posted,
// in order, as the full reconcile of a reload is.
namespace {
constexpr const char* removed = "the user's session was removed from the configuration";
}  // namespace

void multi_user_sessions::keep(const std::string& user_id, ibkr_profile profile) {
    std::string previous;  // the IBKR username of the user's credential until now
    if (const auto it = users_.find(user_id); it != users_.end()) {
        previous = it->second->profile.credential;
        user_of_username_.erase(previous);
    }
    user_of_username_.insert_or_assign(profile.credential, user_id);
    const auto config = std::make_shared<const settings>(settings_for(std::move(profile)));
    users_.insert_or_assign(user_id, config);
    if (previous == config->profile.credential) previous.clear();
    const bool here = runs_here(user_id);
    asio::post(executor_, [this, alive = alive_, previous = std::move(previous), here,
                           desired = desired_session{config, tls_, user_id}]() mutable {
        if (!*alive) return;
        if (!previous.empty()) registry_.let_go_one(previous, removed);
        if (here) registry_.reconcile_one(std::move(desired));
    });
}

void multi_user_sessions::use_leases(lease_gate gate) {
    leases_ = std::move(gate);
    // Each session's fence, for the user it was made for (desired_session::log_name is the user id
    // here, see keep()).
    registry_.fence_sessions([may_call = leases_.may_call](const desired_session& d) -> ibkr_client::call_permit {
        return [may_call, user = d.log_name] { return may_call(user); };
    });
}

bool unreachable_from_here(const session_snapshot& s) noexcept {
    if (s.state == lifecycle::connected || s.consecutive_failures < 5 || !s.last_error || s.maintenance) return false;
    const failure k = s.last_error->kind;
    return k == failure::timeout || k == failure::transport || k == failure::tls;
}

bool multi_user_sessions::cut_off_from_ibkr(std::string_view user_id) const {
    const auto username = username_of(user_id);
    if (!username) return false;
    const auto view = registry_.user(*username);
    return view && view->running != nullptr && unreachable_from_here(view->running->snapshot());
}

void multi_user_sessions::lost(const std::string& user_id) {
    const auto username = username_of(user_id);
    if (!username) return;
    asio::post(executor_, [this, alive = alive_, username = std::string(*username)] {
        if (*alive) registry_.let_go_one(username, "this daemon's lease on the user ended");
    });
}

asio::awaitable<void> multi_user_sessions::hand_back(const std::string& user_id) {
    const auto username = username_of(user_id);
    if (!username) co_return;
    // Waited for as an event: the timer never expires, the session's end cancels it.
    auto ended = std::make_shared<asio::steady_timer>(executor_, asio::steady_timer::time_point::max());
    registry_.let_go_one(*username, "handed back to another replica", [ended] { ended->cancel(); });
    (void)co_await ended->async_wait(asio::as_tuple(asio::use_awaitable));
}

void multi_user_sessions::drop(const std::string& user_id) {
    const auto it = users_.find(user_id);
    if (it == users_.end()) return;
    std::string username = it->second->profile.credential;
    user_of_username_.erase(username);
    users_.erase(it);
    asio::post(executor_, [this, alive = alive_, username = std::move(username)] {
        if (*alive) registry_.let_go_one(username, removed);
    });
}

std::string_view multi_user_sessions::user_of(std::string_view username) const {
    const auto it = user_of_username_.find(username);
    return it != user_of_username_.end() ? std::string_view(it->second) : std::string_view();
}

void multi_user_sessions::reconfigure() {
    // Each user's settings are the daemon's with the user's credential: made again from the new ones.
    for (auto& [id, config] : users_) config = std::make_shared<const settings>(settings_for(config->profile));
    reconcile_soon();
}

void multi_user_sessions::reconcile_soon() {
    if (std::exchange(reconcile_posted_, true)) return;
    asio::post(executor_, [this, alive = alive_] {
        if (!*alive) return;
        reconcile_posted_ = false;
        std::vector<desired_session> desired;
        desired.reserve(users_.size());
        for (const auto& [id, config] : users_)
            if (runs_here(id)) desired.push_back({config, tls_, id});
        registry_.reconcile(std::move(desired));
    });
}

std::optional<std::string_view> multi_user_sessions::username_of(std::string_view user_id) const {
    const auto it = users_.find(user_id);
    if (it == users_.end()) return std::nullopt;
    return std::string_view(it->second->profile.credential);
}

std::optional<status_input> multi_user_sessions::status_input_of(std::string_view user_id) const {
    const auto username = username_of(user_id);
    if (!username) return std::nullopt;
    status_input in{*daemon_.config, {}, daemon_.stopping(), daemon_.started_at, wall_clock::now(), nullptr};
    if (const auto view = registry_.user(*username))
        in.users.push_back({view->config, view->running != nullptr ? &view->running->snapshot() : nullptr});
    return in;
}

std::string multi_user_sessions::state_line(std::string_view user_id) const {
    const auto in = status_input_of(user_id);
    if (!in) return "no credentials";
    if (!runs_here(user_id)) return "held by another replica";
    if (in->users.empty()) return "starting";
    return status_line(*in);
}

std::optional<boost::json::object> multi_user_sessions::status(std::string_view user_id) const {
    const auto in = status_input_of(user_id);
    if (!in) return std::nullopt;
    if (!runs_here(user_id))
        // Not "not configured": the session runs, on the replica that holds the lease.
        return boost::json::object{{"status", "elsewhere"},
                                   {"message", "held by another replica (GET /api/replicas names it)"},
                                   {"replica", leases_.describe(user_id)}};
    boost::json::object out = status_json(*in);
    if (leases_.describe) out["replica"] = leases_.describe(user_id);
    return out;
}

bool multi_user_sessions::run_test(const std::string& user_id, std::function<void(const connection_test_report&)> done) {
    const auto username = username_of(user_id);
    if (!username) return false;
    return registry_.run_test(std::string(*username), std::move(done));
}

}  // namespace sessiond
