#include "sessiond/app/multi_user_mode.hpp"

#include "sessiond/ibkr/requests.hpp"
#include "sessiond/store/database_pacing_store.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <boost/asio/io_context.hpp>

namespace sessiond {

namespace asio = boost::asio;

expected<master_keyring> multi_user_mode::read_keyring(const std::optional<std::filesystem::path>& master_key_file) {
    keyring_environment where = keyring_environment_from_process();
    where.master_key_file = master_key_file ? std::optional<std::string>(master_key_file->string()) : std::nullopt;
    return load_master_keyring_from_environment(where);
}

namespace {

// A user whose lease this replica took: the credential read again, the session started with it. A
// read that fails (the database busy, or its connection being made again after a partition) is
// tried again, 1 s then doubling up to 30 s, while the lease is held: a replica holding a user's
// lease without running the session would leave the user with none anywhere.
asio::awaitable<void> take_over(user_service* users, multi_user_mode* mode, std::string user) {
    std::chrono::seconds wait{1};
    for (;;) {
        const bool read = co_await users->refresh(user);
        if (read) co_return;
        asio::steady_timer timer(co_await asio::this_coro::executor, wait);
        (void)co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        if (mode->replica() == nullptr || !mode->replica()->leases().holds(user)) co_return;
        wait = std::min(wait * 2, std::chrono::seconds(30));
    }
}

}  // namespace

expected<std::unique_ptr<multi_user_mode>> multi_user_mode::open(parts with, master_keyring keys,
                                                                 database_target database) {
    std::unique_ptr<multi_user_mode> mode(new multi_user_mode());
    // The loop does not run yet: the store is opened on a loop of its own, and waited for.
    mode->opening_ = std::make_unique<asio::io_context>();
    const auto open_store = [&mode](credential_store::database_opener opener) {
        std::optional<expected<std::unique_ptr<credential_store>>> opened;
        asio::co_spawn(*mode->opening_, credential_store::open(std::move(opener)),
                       [&opened](std::exception_ptr e, expected<std::unique_ptr<credential_store>> r) {
                           if (e) std::rethrow_exception(e);
                           opened.emplace(std::move(r));
                       });
        mode->opening_->restart();
        mode->opening_->run();
        return std::move(*opened);
    };
    auto opened = open_store(std::move(database.opener));
    if (!opened) return make_error("the database (" + database.name + "): " + opened.error().message);

    mode->log_ = with.log;
    mode->executor_ = with.executor;
    mode->keyring_ = std::make_shared<const master_keyring>(std::move(keys));
    mode->store_ = std::move(*opened);
    mode->sessions_ = std::make_unique<multi_user_sessions>(with.executor, with.registry, std::move(with.tls),
                                                            std::move(with.signer), std::move(with.daemon));
    mode->users_ = std::make_unique<user_service>(with.executor, *mode->store_, mode->keyring_, *mode->sessions_,
                                                  with.log);
    if (const service_options& svc = with.values.service; !svc.replica_id.empty()) {
        const auto http_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(with.values.options.http_timeout);
        const lease_timing timing = lease_timing_for(svc.lease_ttl, http_timeout);
        if (auto safe = check_lease_timing(timing, http_timeout); !safe)
            // The margin is the HTTP timeout and a second at least, and a renewal comes every sixth:
            // a TTL under 1.2 times that margin leaves no usable window.
            return make_error(fmt::format("SESSIOND_LEASE_TTL: {}; with IBKR_HTTP_TIMEOUT={} s it must be more than "
                                          "{:.1f} s", safe.error().message, http_timeout.count() / 1000.0,
                                          1.2 * (http_timeout.count() + 1000) / 1000.0));
        set_replica_agent(svc.replica_id);
        multi_user_sessions* sessions = mode->sessions_.get();
        user_service* users = mode->users_.get();
        replica_leases::hooks hooks{
            .gained =
                [users, self = mode.get(), executor = with.executor](const std::string& user) {
                    asio::co_spawn(executor, take_over(users, self, user), [](std::exception_ptr e) {
                        if (e) std::rethrow_exception(e);
                    });
                },
            .lost = [sessions](const std::string& user) { sessions->lost(user); },
            .hand_back = [sessions](const std::string& user) { return sessions->hand_back(user); },
            .unreachable = [sessions](const std::string& user) { return sessions->cut_off_from_ibkr(user); },
        };
        users->serve_replicas(svc.replica_id, timing.ttl);
        mode->database_server_ = svc.database_server;
        // The leases on a connection and a thread of their own: a backlog of the sessions' writes
        // (thousands of users claimed at once each read their credential, log in, write their
        // pacing record and audit entries) never delays a renewal past the lease's usable window.
        auto lease_target = database_target_of(svc, false);
        if (!lease_target) return lease_target.error();
        auto lease_store = open_store(std::move(lease_target->opener));
        if (!lease_store)
            return make_error("the database (" + database.name + "), the leases' connection: " + lease_store.error().message);
        mode->lease_store_ = std::move(*lease_store);
        mode->replica_ = std::make_unique<replica_runner>(with.executor, *mode->lease_store_, svc.replica_id, timing,
                                                          std::move(hooks), with.log);
        replica_leases& leases = mode->replica_->leases();
        // The replicas share each username's pacing record (the login budget, the last validate):
        // a replica taking a user over logs in within what the previous holder left. It writes the
        // record only under its lease on the user, with its fencing token.
        with.registry.use_pacing_store([store = mode->store_.get(), sessions, &leases](const settings& config) {
            auto fence = [sessions, &leases, username = config.profile.credential] {
                return leases.fence_of(sessions->user_of(username));
            };
            return std::make_shared<database_pacing_store>(*store, config.profile.credential, std::move(fence));
        });
        sessions->use_leases({.holds = [&leases](std::string_view user) { return leases.holds(user); },
                              .may_call = [&leases](std::string_view user) { return leases.may_call(user); },
                              .describe = [&leases](std::string_view user) { return leases.describe(user); }});
    }
    mode->sessions_->on_session_event([users = mode->users_.get(), replica = mode->replica_.get()](
                                          std::string user_id, std::string action, std::string outcome,
                                          boost::json::object details) {
        // As one of several replicas: which one, under which lease (the audit chain has every
        // replica's entries; a login's fencing token tells the holders of a user apart).
        if (replica != nullptr) {
            details["replica"] = replica->leases().id();
            if (const auto fence = replica->leases().fence_of(user_id)) details["fencing_token"] = fence->lease.fencing;
        }
        users->record_session_event(std::move(user_id), std::move(action), std::move(outcome), std::move(details));
    });
    return mode;
}

asio::awaitable<void> multi_user_mode::load() {
    // A database that fails at start (restarting, busy, out of reach) is tried again, 5 s after the
    // first failure and up to a minute apart, until it answers or the daemon stops: a daemon that
    // runs for months must not stay without sessions for one bad minute.
    auto kept = co_await users_->load();
    std::chrono::seconds wait{5};
    while (!kept && !stopping_) {
        log_.error({}, "multi-user mode: reading the users from the database failed: {}; no user's session runs "
                       "until it succeeds; trying again in {} s",
                   kept.error().message, wait.count());
        retry_timer_ = std::make_unique<asio::steady_timer>(executor_);
        retry_timer_->expires_after(wait);
        (void)co_await retry_timer_->async_wait(asio::as_tuple(asio::use_awaitable));
        if (stopping_) co_return;
        wait = std::min(wait * 2, std::chrono::seconds(60));
        kept = co_await users_->load();
    }
    if (!kept) co_return;
    if (replica_) {
        log_.info({}, "multi-user mode: {} user(s) with IBKR credentials; this replica starts the sessions of those "
                      "whose lease it takes, at the login rate", *kept);
        replica_->start();
        auto rethrow = [](std::exception_ptr e) {
            if (e) std::rethrow_exception(e);
        };
        listener_ = std::make_unique<postgresql_listener>(
            database_server_, "sessiond_users", executor_,
            [users = users_.get(), runner = replica_.get(), executor = executor_, rethrow, log = log_](std::string payload) {
                // "<replica>/": leases given back there (a stop, a hand-back): claim now.
                if (!payload.empty() && payload.back() == '/') {
                    if (payload != runner->leases().id() + "/") {
                        log.info({}, "replica {}: replica {} gave leases back; claiming now", runner->leases().id(),
                                 std::string_view(payload).substr(0, payload.size() - 1));
                        runner->claim_now();
                    }
                    return;
                }
                asio::co_spawn(executor, users->heard_from_replica(std::move(payload)), rethrow);
            },
            [users = users_.get(), leases = &replica_->leases(), executor = executor_, rethrow] {
                // Notifications sent while the connection was down are lost: every token again,
                // and the credential of every user whose session runs here.
                auto again = [](user_service* users, std::vector<std::string> held) -> asio::awaitable<void> {
                    co_await users->reload_tokens();
                    for (auto& user : held) (void)co_await users->refresh(std::move(user));
                };
                asio::co_spawn(executor, again(users, leases->held_users()), rethrow);
            },
            log_);
        co_return;
    }
    log_.info({}, "multi-user mode: {} user(s) with IBKR credentials; their sessions start at the login rate", *kept);
}

void multi_user_mode::stopping() {
    stopping_ = true;
    if (retry_timer_) retry_timer_->cancel();
    if (replica_) replica_->stop_claiming();
}

asio::awaitable<void> multi_user_mode::finish() {
    if (replica_) co_await replica_->finish();
}

void multi_user_mode::use_keyring(master_keyring keyring) {
    keyring_ = std::make_shared<const master_keyring>(std::move(keyring));
    users_->use_keyring(keyring_);
}

std::optional<std::string> multi_user_mode::username_for_token(std::string_view token) const {
    const auto user = users_->user_for_token(token);
    if (!user) return std::nullopt;
    const auto username = sessions_->username_of(*user);
    if (!username) return std::nullopt;
    return std::string(*username);
}

}  // namespace sessiond
