#include "sessiond/replica/replica_leases.hpp"

#include "sessiond/core/time_format.hpp"

#include <set>
#include <utility>
#include <vector>

namespace sessiond {

namespace asio = boost::asio;

replica_leases::replica_leases(credential_store& store, std::string replica_id, lease_timing timing, hooks h,
                               logger log, std::function<clock::time_point()> now)
    : store_(store), id_(std::move(replica_id)), timing_(timing), hooks_(std::move(h)), log_(std::move(log)),
      now_(std::move(now)) {}

bool replica_leases::may_call(std::string_view user_id) const {
    const auto it = leases_.find(user_id);
    return it != leases_.end() && lease_usable(it->second.renewal_sent, now_(), timing_);
}

std::vector<std::string> replica_leases::held_users() const {
    std::vector<std::string> out;
    out.reserve(leases_.size());
    for (const auto& [user, lease] : leases_) out.push_back(user);
    return out;
}

std::optional<lease_fence> replica_leases::fence_of(std::string_view user_id) const {
    const auto it = leases_.find(user_id);
    if (it == leases_.end()) return std::nullopt;
    return lease_fence{id_, {std::string(user_id), it->second.fencing, 0}};
}

boost::json::object replica_leases::describe(std::string_view user_id) const {
    boost::json::object out{{"id", id_}, {"holds_lease", false}};
    const auto it = leases_.find(user_id);
    if (it == leases_.end()) return out;
    const auto wall = [this](clock::time_point t) {
        return iso8601_utc(std::chrono::system_clock::now() +
                           std::chrono::duration_cast<std::chrono::system_clock::duration>(t - now_()));
    };
    out["holds_lease"] = true;
    out["fencing_token"] = it->second.fencing;
    out["lease_expires_at"] = wall(it->second.renewal_sent + timing_.ttl);
    out["calls_ibkr_until"] = wall(it->second.renewal_sent + timing_.ttl - timing_.margin);
    return out;
}

void replica_leases::lose(const std::string& user_id, std::string_view why) {
    log_.warn({}, "replica {}: lease of user {} lost ({}): its session is dropped without a logout", id_, user_id, why);
    leases_.erase(user_id);
    if (hooks_.lost) hooks_.lost(user_id);
}

bool replica_leases::cut_off(clock::time_point now) {
    if (cut_off_since_ && now >= *cut_off_since_ + unreachable_rule{}.cut_off_for) {
        log_.info({}, "replica {}: trying IBKR again after {} min cut off: claiming its share from now on", id_,
                  std::chrono::duration_cast<std::chrono::minutes>(unreachable_rule{}.cut_off_for).count());
        cut_off_since_.reset();
    }
    return cut_off_since_.has_value();
}

asio::awaitable<void> replica_leases::renew_round() {
    const clock::time_point sent = now_();
    // Cut off from IBKR: not counted alive, so that the others' shares cover this replica's users.
    auto renew = [id = id_, ttl = timing_.ttl.count(), beat = !cut_off(sent), starting = !beaten_](store_tx& tx)
        -> expected<std::vector<lease_row>> {
        if (beat)
            if (auto told = tx.heartbeat(id, starting); !told) return told.error();
        return tx.renew_leases(id, ttl);
    };
    auto renewed = co_await store_.transact(std::move(renew));
    if (renewed && !cut_off(sent)) beaten_ = true;
    std::vector<lease_row> orphans;
    if (renewed) {
        std::set<std::string, std::less<>> kept;
        for (const lease_row& l : *renewed) {
            auto it = leases_.find(l.user_id);
            // Still ours in the database, no longer here: dropped when this replica fenced itself
            // (the database was out of reach past the usable window, and came back before the
            // lease expired there). Released below, or nobody could claim the user while this
            // replica lives.
            if (it == leases_.end() || it->second.fencing != l.fencing) {
                orphans.push_back(l);
                continue;
            }
            it->second.renewal_sent = sent;
            kept.insert(l.user_id);
        }
        std::vector<std::string> gone;
        for (const auto& [user, lease] : leases_)
            if (!kept.contains(user)) gone.push_back(user);
        for (const auto& user : gone) lose(user, "expired or taken over");
        log_.debug({}, "replica {}: renewed {} lease(s)", id_, kept.size());
    } else {
        log_.error({}, "replica {}: renewing its {} lease(s) failed: {}", id_, leases_.size(), renewed.error().message);
    }
    drop_unusable();
    if (orphans.empty()) co_return;
    log_.info({}, "replica {}: releasing {} lease(s) it no longer uses (dropped while the database was out of reach)",
              id_, orphans.size());
    if (auto released = co_await release(std::move(orphans)); !released)
        log_.error({}, "replica {}: releasing leases it no longer uses: {}", id_, released.error().message);
}

void replica_leases::drop_unusable() {
    // Self-fencing: whatever the database said, a lease past its usable window is not ours to use.
    std::vector<std::string> stale;
    for (const auto& [user, lease] : leases_)
        if (!lease_usable(lease.renewal_sent, now_(), timing_)) stale.push_back(user);
    for (const auto& user : stale) lose(user, "not renewed in time");
}

asio::awaitable<void> replica_leases::claim_round(std::size_t batch) {
    struct census {
        std::int64_t users = 0;
        std::int64_t replicas = 0;  // live, this one included unless cut off
        std::int64_t others = 0;    // live, other than this one
    };
    const bool excluded = cut_off(now_());
    auto count = [id = id_, within = timing_.ttl.count(), excluded, starting = !beaten_](store_tx& tx) -> expected<census> {
        if (!excluded)
            if (auto beat = tx.heartbeat(id, starting); !beat) return beat.error();
        auto users = tx.count_credentials();
        if (!users) return users.error();
        auto others = tx.live_replicas(within, id);
        if (!others) return others.error();
        return census{*users, *others + (excluded ? 0 : 1), *others};
    };
    auto seen = co_await store_.transact(std::move(count));
    if (!seen) {
        log_.error({}, "replica {}: claim round: {}", id_, seen.error().message);
        co_return;
    }
    if (!excluded) beaten_ = true;
    const claim_step plan = plan_claim_round(leases_.size(), static_cast<std::size_t>(seen->users),
                                              static_cast<std::size_t>(seen->replicas), batch);
    if (plan.hand_back > 0) {
        // The last users by id go back: another replica claims in id order, so the split settles.
        std::vector<std::pair<std::string, held_lease>> surplus;
        for (auto it = leases_.rbegin(); it != leases_.rend() && surplus.size() < plan.hand_back; ++it)
            surplus.emplace_back(it->first, it->second);
        log_.info({}, "replica {}: {} user(s) among {} replica(s): handing {} back for a replica with fewer", id_,
                  seen->users, seen->replicas, surplus.size());
        co_await give_back(std::move(surplus));
        co_return;
    }
    if (const auto stuck = unreachable_to_give_back(static_cast<std::size_t>(seen->others))) {
        if (!cut_off_since_) {
            cut_off_since_ = now_();
            log_.warn({}, "replica {}: IBKR cannot be reached from here: the users whose sessions fail go to the other "
                          "replicas one a round, and this one claims none for {} min",
                      id_, std::chrono::duration_cast<std::chrono::minutes>(unreachable_rule{}.cut_off_for).count());
        }
        log_.warn({}, "replica {}: user {}'s session fails to reach IBKR again and again: handing it to another replica",
                  id_, *stuck);
        std::vector<std::pair<std::string, held_lease>> one;
        one.emplace_back(*stuck, leases_.at(*stuck));
        co_await give_back(std::move(one));
        co_return;
    }
    if (excluded || plan.claim == 0) co_return;
    const clock::time_point sent = now_();
    auto claim = [id = id_, n = plan.claim, ttl = timing_.ttl.count()](store_tx& tx) { return tx.claim_leases(id, n, ttl); };
    auto claimed = co_await store_.transact(std::move(claim));
    if (!claimed) {
        log_.error({}, "replica {}: claiming users: {}", id_, claimed.error().message);
        co_return;
    }
    if (!claimed->empty())
        log_.info({}, "replica {}: claimed {} user(s) (fair share {} of {} among {} replica(s))", id_, claimed->size(),
                  fair_share(static_cast<std::size_t>(seen->users), static_cast<std::size_t>(seen->replicas)),
                  seen->users, seen->replicas);
    for (const lease_row& l : *claimed) {
        leases_[l.user_id] = held_lease{l.fencing, sent};
        if (hooks_.gained) hooks_.gained(l.user_id);
    }
}

}  // namespace sessiond

namespace sessiond {

std::optional<std::string> replica_leases::unreachable_to_give_back(std::size_t other_live_replicas) {
    if (!hooks_.unreachable) return std::nullopt;
    for (const auto& [user, lease] : leases_) {
        if (!hooks_.unreachable(user)) continue;
        std::uniform_real_distribution<double> coin(0.0, 1.0);
        if (give_back_unreachable(other_live_replicas, coin(coin_))) return user;
        return std::nullopt;  // one toss a round
    }
    return std::nullopt;
}

asio::awaitable<void> replica_leases::give_back(std::vector<std::pair<std::string, held_lease>> users) {
    for (auto& [user, lease] : users) {
        log_.info({}, "replica {}: handing user {} back: its session logs out, then the lease is released", id_, user);
        // Logged out while the lease is still held (and renewed): the logout is a call like any other.
        if (hooks_.hand_back) co_await hooks_.hand_back(user);
        leases_.erase(user);
        std::vector<lease_row> row{lease_row{user, lease.fencing, 0}};
        if (auto released = co_await release(std::move(row)); !released)
            log_.error({}, "replica {}: releasing user {}: {}", id_, user, released.error().message);
    }
}

asio::awaitable<expected<void>> replica_leases::release(std::vector<lease_row> rows) {
    auto job = [id = id_, rows = std::move(rows)](store_tx& tx) -> expected<void> {
        bool any = false;
        for (const auto& row : rows) {
            auto released = tx.release_lease(id, row);
            if (!released) return released.error();
            any = any || *released;
        }
        // The others claim at once when this commits, not at their next round.
        if (any) return tx.announce_released(id);
        return {};
    };
    co_return co_await store_.transact(std::move(job));
}

asio::awaitable<void> replica_leases::release_all() {
    std::vector<lease_row> rows;
    for (const auto& [user, lease] : leases_) rows.push_back({user, lease.fencing, 0});
    leases_.clear();
    auto leave = [id = id_](store_tx& tx) { return tx.leave(id); };
    if (auto left = co_await store_.transact(std::move(leave)); !left)
        log_.error({}, "replica {}: saying it leaves: {}; the others count it alive until its heartbeat is old", id_,
                   left.error().message);
    if (auto released = co_await release(std::move(rows)); !released)
        log_.error({}, "replica {}: releasing its leases at stop: {}; they expire by themselves", id_,
                   released.error().message);
}

}  // namespace sessiond
