#include "sessiond/replica/replica_leases.hpp"

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

std::int64_t replica_leases::fencing_of(std::string_view user_id) const {
    const auto it = leases_.find(user_id);
    return it != leases_.end() ? it->second.fencing : 0;
}

void replica_leases::lose(const std::string& user_id, std::string_view why) {
    log_.warn({}, "replica {}: lease of user {} lost ({}): its session is dropped without a logout", id_, user_id, why);
    leases_.erase(user_id);
    if (hooks_.lost) hooks_.lost(user_id);
}

asio::awaitable<void> replica_leases::renew_round() {
    const clock::time_point sent = now_();
    auto renew = [id = id_, ttl = timing_.ttl.count()](store_tx& tx) -> expected<std::vector<lease_row>> {
        if (auto beat = tx.heartbeat(id); !beat) return beat.error();
        return tx.renew_leases(id, ttl);
    };
    auto renewed = co_await store_.transact(std::move(renew));
    if (renewed) {
        std::set<std::string, std::less<>> kept;
        for (const lease_row& l : *renewed) {
            auto it = leases_.find(l.user_id);
            // Renewed with another token: not the lease this replica took. Never happens while only
            // this replica renews its own; treated as lost.
            if (it == leases_.end() || it->second.fencing != l.fencing) continue;
            it->second.renewal_sent = sent;
            kept.insert(l.user_id);
        }
        std::vector<std::string> gone;
        for (const auto& [user, lease] : leases_)
            if (!kept.contains(user)) gone.push_back(user);
        for (const auto& user : gone) lose(user, "expired or taken over");
    } else {
        log_.error({}, "replica {}: renewing its {} lease(s) failed: {}", id_, leases_.size(), renewed.error().message);
    }
    // Self-fencing: whatever the database said, a lease past its usable window is not ours to use.
    std::vector<std::string> stale;
    for (const auto& [user, lease] : leases_)
        if (!lease_usable(lease.renewal_sent, now_(), timing_)) stale.push_back(user);
    for (const auto& user : stale) lose(user, "not renewed in time");
}

asio::awaitable<void> replica_leases::claim_round(std::size_t batch) {
    struct census {
        std::int64_t users = 0;
        std::int64_t replicas = 0;
    };
    auto count = [id = id_, within = timing_.ttl.count()](store_tx& tx) -> expected<census> {
        if (auto beat = tx.heartbeat(id); !beat) return beat.error();
        auto users = tx.count_credentials();
        if (!users) return users.error();
        auto replicas = tx.live_replicas(within);
        if (!replicas) return replicas.error();
        return census{*users, *replicas};
    };
    auto seen = co_await store_.transact(std::move(count));
    if (!seen) {
        log_.error({}, "replica {}: claim round: {}", id_, seen.error().message);
        co_return;
    }
    const claim_step plan = plan_claim_round(leases_.size(), static_cast<std::size_t>(seen->users),
                                              static_cast<std::size_t>(seen->replicas), batch);
    if (plan.hand_back > 0) {
        // The last users by id go back: another replica claims in id order, so the split settles.
        std::vector<std::pair<std::string, held_lease>> surplus;
        for (auto it = leases_.rbegin(); it != leases_.rend() && surplus.size() < plan.hand_back; ++it)
            surplus.emplace_back(it->first, it->second);
        for (auto& [user, lease] : surplus) {
            leases_.erase(user);
            if (hooks_.hand_back) co_await hooks_.hand_back(user);
            auto release = [id = id_, row = lease_row{user, lease.fencing, 0}](store_tx& tx) {
                return tx.release_lease(id, row);
            };
            if (auto released = co_await store_.transact(std::move(release)); !released)
                log_.error({}, "replica {}: releasing user {}: {}", id_, user, released.error().message);
        }
        co_return;
    }
    if (plan.claim == 0) co_return;
    const clock::time_point sent = now_();
    auto claim = [id = id_, n = plan.claim, ttl = timing_.ttl.count()](store_tx& tx) { return tx.claim_leases(id, n, ttl); };
    auto claimed = co_await store_.transact(std::move(claim));
    if (!claimed) {
        log_.error({}, "replica {}: claiming users: {}", id_, claimed.error().message);
        co_return;
    }
    for (const lease_row& l : *claimed) {
        leases_[l.user_id] = held_lease{l.fencing, sent};
        if (hooks_.gained) hooks_.gained(l.user_id);
    }
}

}  // namespace sessiond
