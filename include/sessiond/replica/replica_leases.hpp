#pragma once
// One replica's leases: which users'
// sessions this daemon holds when several share one database, by the rules of lease_plan.hpp.
//
// Two rounds, each run by its own timer in the daemon and callable alone in tests:
//   renew_round  heartbeat and renew every held lease in one transaction; a lease missing from the
//                answer is lost. A lease whose usable window passed (self-fencing, by this
//                replica's monotonic clock) is lost too, whether or not the database answered.
//   claim_round  its fair share of the users among the live replicas: claims up to a batch of free
//                or expired users, or hands its surplus back.
// Lost: `lost(user)` (drop the session without a logout: another replica may hold it now). Handed
// back: `hand_back(user)` (log out first), then the lease is released for the next claimer.
//
// may_call(user) is what every IBKR request on a user's behalf asks first.

#include "sessiond/log/log.hpp"
#include "sessiond/replica/lease_plan.hpp"
#include "sessiond/store/credential_store.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <vector>
#include <string>
#include <string_view>

namespace sessiond {

class replica_leases {
public:
    using clock = std::chrono::steady_clock;
    struct hooks {
        std::function<void(const std::string& user_id)> gained;
        std::function<void(const std::string& user_id)> lost;
        // Log the user's session out; the lease is released once this returns.
        std::function<boost::asio::awaitable<void>(const std::string& user_id)> hand_back;
        // Whether the user's session has failed to reach IBKR again and again (connect, TLS,
        // timeout; not IBKR's refusals); such a user is given back (give_back_unreachable).
        std::function<bool(const std::string& user_id)> unreachable;
    };

    replica_leases(credential_store& store, std::string replica_id, lease_timing timing, hooks h, logger log,
                   std::function<clock::time_point()> now = clock::now);

    boost::asio::awaitable<void> renew_round();
    boost::asio::awaitable<void> claim_round(std::size_t batch = 500);
    // Drops (lost, "not renewed in time") every lease past its usable window by this replica's
    // clock. After each renewal, and on a timer of its own: a renewal whose answer does not come
    // (a partition) must not keep the sessions up until it fails.
    void drop_unusable();

    // At a graceful stop, once every session has logged out: every lease goes back at once, for the
    // other replicas' next claim round (not after the TTL).
    boost::asio::awaitable<void> release_all();

    [[nodiscard]] bool may_call(std::string_view user_id) const;
    [[nodiscard]] bool holds(std::string_view user_id) const { return leases_.contains(user_id); }
    // For the user's status: this replica, whether it holds the user's lease, with which fencing
    // token, and until when by its own clock the lease ends (and it may call IBKR for the user).
    [[nodiscard]] boost::json::object describe(std::string_view user_id) const;
    [[nodiscard]] std::size_t held() const noexcept { return leases_.size(); }
    // The users whose lease this replica holds, in id order.
    [[nodiscard]] std::vector<std::string> held_users() const;
    [[nodiscard]] const std::string& id() const noexcept { return id_; }
    // The lease this replica holds on the user (its id, the fencing token), which its writes on the
    // user's behalf go under; none when it holds none.
    [[nodiscard]] std::optional<lease_fence> fence_of(std::string_view user_id) const;

private:
    struct held_lease {
        std::int64_t fencing = 0;
        clock::time_point renewal_sent;
    };
    void lose(const std::string& user_id, std::string_view why);
    // Gives the leases back in one transaction (each only with its fencing token).
    boost::asio::awaitable<expected<void>> release(std::vector<lease_row> rows);

    credential_store& store_;
    std::string id_;
    bool beaten_ = false;  // a heartbeat of this process was written (its started time with it)
    lease_timing timing_;
    hooks hooks_;
    logger log_;
    std::function<clock::time_point()> now_;
    std::map<std::string, held_lease, std::less<>> leases_;
    // Since when IBKR is out of reach from here (lease_plan.hpp's unreachable_rule); none: it is not.
    std::optional<clock::time_point> cut_off_since_;
    std::minstd_rand coin_{std::random_device{}()};
    [[nodiscard]] bool cut_off(clock::time_point now);
    // The user to give back for IBKR being out of reach from here, if any (at most one a round).
    std::optional<std::string> unreachable_to_give_back(std::size_t other_live_replicas);
    boost::asio::awaitable<void> give_back(std::vector<std::pair<std::string, held_lease>> users);
};

}  // namespace sessiond
