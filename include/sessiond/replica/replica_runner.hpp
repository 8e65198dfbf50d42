#pragma once
// One replica's lease rounds on the event loop (issue 13): renewals every `renew_every`, claim
// rounds every `claim_every`, each in its own loop so that a hand-back's logout never delays a
// renewal. The first renewal (with the heartbeat that counts this replica live) comes before the
// first claim round.
//
// A graceful stop: stop_claiming() when the daemon begins to stop (no new users; renewals go on
// while the sessions log out), then finish() once they have: the renewals end and every lease is
// released, so the other replicas take the users over at their next claim round.

#include "sessiond/replica/replica_leases.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <memory>

namespace sessiond {

class replica_runner {
public:
    replica_runner(boost::asio::any_io_executor executor, credential_store& store, std::string replica_id,
                   lease_timing timing, replica_leases::hooks hooks, logger log);
    ~replica_runner();
    replica_runner(const replica_runner&) = delete;
    replica_runner& operator=(const replica_runner&) = delete;

    void start();
    void stop_claiming();
    // Another replica gave leases back (NOTIFY "<replica>/"): a claim round now, unless one runs.
    void claim_now();
    boost::asio::awaitable<void> finish();

    [[nodiscard]] replica_leases& leases() noexcept { return leases_; }
    [[nodiscard]] const lease_timing& timing() const noexcept { return timing_; }

private:
    boost::asio::awaitable<void> renew_loop();
    boost::asio::awaitable<void> claim_loop();
    boost::asio::awaitable<void> fence_loop();

    boost::asio::any_io_executor executor_;
    lease_timing timing_;
    logger log_;
    replica_leases leases_;
    boost::asio::steady_timer renew_timer_;
    boost::asio::steady_timer claim_timer_;
    boost::asio::steady_timer fence_timer_;
    bool renewing_ = false;
    bool claiming_ = false;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace sessiond
