#include "sessiond/session/session_registry.hpp"


#include <boost/asio/post.hpp>

#include <algorithm>

#include <set>

namespace sessiond {

namespace asio = boost::asio;

namespace {

std::string key_fingerprint(const ibkr_profile& p) { return p.private_key ? p.private_key->fingerprint() : std::string(); }

// The report a test gets when its user's session ended before the test could run.
connection_test_report not_run(std::string why) {
    connection_test_report r;
    r.steps.push_back({"oauth", test_step_report::result_t::failed, 0, std::chrono::milliseconds(0), std::move(why)});
    return r;
}

}  // namespace

bool same_identity(const settings& a, const settings& b) {
    const ibkr_profile& x = a.profile;
    const ibkr_profile& y = b.profile;
    return x.client_id == y.client_id && x.client_key_id == y.client_key_id &&
           key_fingerprint(x) == key_fingerprint(y) && x.credential == y.credential && x.account_id == y.account_id &&
           x.allowed_ip == y.allowed_ip && x.scope == y.scope && x.environment == y.environment &&
           a.options.endpoint.text == b.options.endpoint.text && a.options.ca_file == b.options.ca_file;
}

session_registry::session_registry(asio::any_io_executor executor, logger log, offload blocking)
    : executor_(std::move(executor)), log_(std::move(log)), blocking_(std::move(blocking)) {
    make_store_ = [blocking = blocking_](const settings& config) { return state_directory_store(config, blocking); };
}

session_registry::~session_registry() { *alive_ = false; }

bool session_registry::holds_lock(const std::string& name) const {
    for (const auto& [username, s] : slots_) {
        if (s.lock && s.lock->name() == name) return true;
        if (s.retiring_lock && s.retiring_lock->name() == name) return true;
    }
    return false;
}

expected<session_registry::claims> session_registry::claim(const std::vector<desired_session>& desired) {
    claims taken(desired.size());
    if (!claim_) return taken;
    for (std::size_t i = 0; i < desired.size(); ++i) {
        const settings& config = *desired[i].config;
        if (holds_lock(username_lock_name(config.profile.credential, config.options.endpoint))) continue;
        auto lock = claim_(config);
        if (!lock) return lock.error();  // what was taken so far is released with `taken`
        taken[i] = std::move(*lock);
    }
    return taken;
}

void session_registry::describe_self(const lock_holder& self) {
    for (auto& [username, s] : slots_) {
        if (s.lock) s.lock->describe_self(self);
        if (s.retiring_lock) s.retiring_lock->describe_self(self);
    }
}

// The slot's lock becomes `taken` (a new name), or stays what it holds. A lock the retiring session
// still needs waits with it; one for the desired settings already held by the retiring session
// comes back from it.
void session_registry::take_lock(slot& s, std::optional<username_lock> taken) {
    const std::string wanted = s.desired ? username_lock_name(s.desired->config->profile.credential,
                                                              s.desired->config->options.endpoint)
                                         : std::string();
    if (s.retiring_lock && s.retiring_lock->name() == wanted) std::swap(s.lock, s.retiring_lock);
    if (!taken) return;
    if (s.lock && (s.active || s.retiring)) {
        if (!s.retiring_lock) s.retiring_lock = std::move(s.lock);
    }
    s.lock = std::move(taken);
}

void session_registry::reconcile(std::vector<desired_session> desired, claims taken) {
    if (stopping_) return;
    taken.resize(desired.size());
    std::set<std::string> wanted;
    for (std::size_t i = 0; i < desired.size(); ++i) {
        desired_session& d = desired[i];
        if (!wanted.insert(d.config->profile.credential).second) {
            log_.error({}, "configuration names one IBKR username twice (account {}); keeping the first", d.config->profile.account_id);
            continue;
        }
        adopt(std::move(d), std::move(taken[i]));
    }
    let_go([&](const std::string& username) { return !wanted.contains(username); },
           "the user's session was removed from the configuration");
    notify();
}

void session_registry::reconcile_one(desired_session desired) {
    if (stopping_) return;
    adopt(std::move(desired), std::nullopt);
    notify();
}

void session_registry::let_go_one(std::string_view username, const char* why, std::function<void()> ended) {
    if (!stopping_)
        if (const auto it = slots_.find(username); it != slots_.end()) release(it, why);
    if (ended) {
        // Still logging out (now, or since stop()): when that ends. Otherwise nothing runs.
        if (const auto it = slots_.find(username); it != slots_.end() && it->second.retiring)
            it->second.on_retired.push_back(std::move(ended));
        else
            asio::post(executor_, std::move(ended));
    }
    if (!stopping_) notify();
}

void session_registry::adopt(desired_session d, std::optional<username_lock> taken) {
    const std::string username = d.config->profile.credential;
    slot& s = slots_[username];
    if (s.active && same_identity(s.active->config(), *d.config)) {
        s.active->apply(d.config);  // the slot and the session share it
        s.desired = std::move(d);
        take_lock(s, std::move(taken));
        return;
    }
    s.desired = std::move(d);
    // Before retire(): a lock the old session keeps moves aside with it.
    take_lock(s, std::move(taken));
    if (s.active) {
        log_.info({}, "the IBKR login of account {} changed: logging out before logging in with the new settings",
                  s.active->config().profile.account_id);
        retire(username, s);
    } else if (!s.retiring) {
        start(username, s);
    } else {
        log_.info({}, "account {}: the previous session is still logging out; the new settings apply after it",
                  s.desired->config->profile.account_id);
    }
}

void session_registry::let_go(const std::function<bool(const std::string&)>& which, const char* why) {
    for (auto it = slots_.begin(); it != slots_.end();) it = which(it->first) ? release(it, why) : std::next(it);
}

session_registry::slot_map::iterator session_registry::release(slot_map::iterator it, const char* why) {
    slot& s = it->second;
    s.desired.reset();
    if (s.active) retire(it->first, s);
    for (auto& t : std::exchange(s.pending_tests, {}))
        asio::post(executor_, [t = std::move(t), why] { t(not_run(why)); });
    if (s.retiring) return std::next(it);
    if (keeps_pacer(s)) {
        s.lock.reset();  // no session of its: the username is free for another process
        return std::next(it);
    }
    return slots_.erase(it);
}

std::size_t session_registry::size() const noexcept {
    return static_cast<std::size_t>(std::count_if(slots_.begin(), slots_.end(), [](const auto& entry) {
        const slot& s = entry.second;
        return s.desired || s.active || s.retiring;
    }));
}

bool session_registry::keeps_pacer(const slot& s) const {
    if (stopping_ || !s.pacer) return false;
    if (s.pacer.use_count() > 1) return true;  // a proof in flight, or a gateway call
    const auto& logins = s.pacer->logins().recent();
    return !logins.empty() && logins.back() > wall_clock::now() - login_budget::window;
}

std::optional<session_registry::user_view> session_registry::user(std::string_view username) const {
    const auto it = slots_.find(username);
    if (it == slots_.end()) return std::nullopt;
    const slot& s = it->second;
    const std::string_view name = s.desired ? std::string_view(s.desired->log_name) : std::string_view();
    if (s.active) return user_view{&s.active->config(), s.active.get(), name};
    if (s.desired) return user_view{s.desired->config.get(), nullptr, name};
    return std::nullopt;
}

std::shared_ptr<username_pacer> session_registry::pacer_for(const settings& config) {
    if (stopping_) return std::make_shared<username_pacer>(machine_settings::from(config).pacing());
    slot& s = slots_.try_emplace(config.profile.credential).first->second;
    if (!s.pacer) {
        s.pacer = std::make_shared<username_pacer>(machine_settings::from(config).pacing());
        share_daemon_limits(config, *s.pacer);
    }
    return s.pacer;
}

void session_registry::share_daemon_limits(const settings& config, username_pacer& pacer) {
    pacer.share_penalty_box(penalty_box_for(config.profile.allowed_ip));
    login_slots_->set_interval(
        std::chrono::duration_cast<std::chrono::microseconds>(config.options.daemon_login_interval));
    pacer.share_login_slots(login_slots_);
}

void session_registry::start(const std::string& username, slot& s) {
    const settings& config = *s.desired->config;
    const std::string& log_name = s.desired->log_name.empty() ? config.profile.account_id : s.desired->log_name;
    s.active = std::make_unique<session_keeper>(executor_, s.desired->config, s.desired->tls, logger(log_.impl(), log_name),
                                         s.pacer, make_store_(config), blocking_, idle_connections_);
    if (make_fence_) s.active->fence(make_fence_(*s.desired));
    s.pacer = s.active->pacer();  // the username's from now on, if this is its first keeper
    share_daemon_limits(config, *s.pacer);
    s.active->on_change([this, username, keeper = s.active.get()] {
        notify();
        if (session_observer_) session_observer_(username, keeper->snapshot());
    });
    s.active->start();
    // After the session's first turn of the loop, which decides its first call.
    for (auto& t : std::exchange(s.pending_tests, {})) {
        asio::post(executor_, [this, alive = alive_, username, t = std::move(t)]() mutable {
            if (!*alive) return;
            if (!run_test(username, t)) t(not_run("the user's session was removed from the configuration"));
        });
    }
}

std::shared_ptr<ip_penalty_box> session_registry::penalty_box_for(std::string_view address) {
    // Addresses no pacer uses any more are dropped now and then, at a cost that stays linear overall.
    if (penalty_boxes_.size() >= penalty_boxes_pruned_at_ * 2 + 16) {
        std::erase_if(penalty_boxes_, [](const auto& e) { return e.second.expired(); });
        penalty_boxes_pruned_at_ = penalty_boxes_.size();
    }
    auto& entry = penalty_boxes_[std::string(address)];
    auto box = entry.lock();
    if (!box) {
        box = std::make_shared<ip_penalty_box>();
        entry = box;
    }
    return box;
}

void session_registry::retire(const std::string& username, slot& s) {
    s.retiring = std::move(s.active);
    // The session calls back from inside its own completion: it is released later, on the loop.
    s.retiring->stop([this, alive = alive_, username] {
        asio::post(executor_, [this, alive, username] {
            if (*alive) on_retired(username);
        });
    });
}

void session_registry::on_retired(const std::string& username) {
    const auto it = slots_.find(username);
    if (it == slots_.end() || !it->second.retiring) return;
    slot& s = it->second;
    s.retiring.reset();
    s.retiring_lock.reset();  // logged out: the username is free for another process
    for (auto& waiter : std::exchange(s.on_retired, {})) asio::post(executor_, std::move(waiter));
    if (s.desired && !stopping_) {
        start(username, s);
    } else {
        for (auto& t : std::exchange(s.pending_tests, {}))
            asio::post(executor_, [t = std::move(t)] { t(not_run("the daemon is stopping")); });
        if (keeps_pacer(s)) s.lock.reset();
        else slots_.erase(it);
    }
    notify();
    finish_stop_if_done();
}

void session_registry::stop(std::function<void()> done) {
    if (done) stop_callbacks_.push_back(std::move(done));
    if (!stopping_) {
        stopping_ = true;
        let_go([](const std::string&) { return true; }, "the daemon is stopping");
        notify();
    }
    asio::post(executor_, [this, alive = alive_] {
        if (*alive) finish_stop_if_done();
    });
}

void session_registry::finish_stop_if_done() {
    if (!stopping_ || !slots_.empty()) return;
    for (auto& cb : std::exchange(stop_callbacks_, {})) cb();
}

std::vector<session_registry::user_view> session_registry::users() const {
    std::vector<user_view> out;
    out.reserve(slots_.size());
    for (const auto& [username, s] : slots_) {
        const std::string_view name = s.desired ? std::string_view(s.desired->log_name) : std::string_view();
        if (s.active)
            out.push_back({&s.active->config(), s.active.get(), name});
        else if (s.desired)
            out.push_back({s.desired->config.get(), nullptr, name});
        else if (stopping_ && s.retiring)
            out.push_back({&s.retiring->config(), s.retiring.get()});  // logging out at shutdown
    }
    return out;
}

std::optional<session_registry::gateway_target> session_registry::gateway_target_for(std::string_view username) {
    for (auto& [name, s] : slots_) {
        if (!s.desired || (!username.empty() && name != username)) continue;
        return gateway_target{name, s.active.get()};
    }
    return std::nullopt;
}

bool session_registry::run_test(const std::string& username, test_callback done) {
    auto it = username.empty() ? slots_.begin() : slots_.find(username);
    while (username.empty() && it != slots_.end() && !it->second.desired) ++it;
    if (it == slots_.end() || !it->second.desired) return false;
    slot& s = it->second;
    if (s.active)
        s.active->run_test(std::move(done));
    else
        s.pending_tests.push_back(std::move(done));
    return true;
}

bool session_registry::wedged(std::chrono::steady_clock::time_point now) const {
    for (const auto& [username, s] : slots_) {
        if (s.active && s.active->wedged(now)) return true;
        if (s.retiring && s.retiring->wedged(now)) return true;
    }
    return false;
}

void session_registry::notify() const {
    if (observer_) observer_();
}

}  // namespace sessiond
