#include "sessiond/replica/replica_runner.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace sessiond {

namespace asio = boost::asio;

replica_runner::replica_runner(asio::any_io_executor executor, credential_store& store, std::string replica_id,
                               lease_timing timing, replica_leases::hooks hooks, logger log)
    : executor_(executor),
      timing_(timing),
      log_(log),
      leases_(store, std::move(replica_id), timing, std::move(hooks), std::move(log)),
      renew_timer_(executor),
      claim_timer_(executor),
      fence_timer_(executor) {}

replica_runner::~replica_runner() { *alive_ = false; }

void replica_runner::start() {
    renewing_ = claiming_ = true;
    log_.info({}, "replica {}: sharing the users with the other replicas of the database (lease {} s, renewed every "
                  "{:.1f} s, self-fenced {:.1f} s before it ends)",
              leases_.id(), timing_.ttl.count() / 1000.0, timing_.renew_every.count() / 1000.0,
              timing_.margin.count() / 1000.0);
    asio::co_spawn(executor_, renew_loop(), asio::detached);
    asio::co_spawn(executor_, fence_loop(), asio::detached);
}

asio::awaitable<void> replica_runner::fence_loop() {
    const auto alive = alive_;
    while (*alive && renewing_) {
        fence_timer_.expires_after(timing_.renew_every);
        (void)co_await fence_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
        if (!*alive || !renewing_) co_return;
        leases_.drop_unusable();
    }
}

asio::awaitable<void> replica_runner::renew_loop() {
    const auto alive = alive_;
    bool first = true;
    while (*alive && renewing_) {
        try {
            co_await leases_.renew_round();
        } catch (const std::exception& e) {
            // Not expected; the loop goes on (a lease not renewed is self-fenced all the same).
            log_.error({}, "replica {}: renewal round failed: {}", leases_.id(), e.what());
        }
        if (!*alive) co_return;
        if (std::exchange(first, false) && claiming_) asio::co_spawn(executor_, claim_loop(), asio::detached);
        renew_timer_.expires_after(timing_.renew_every);
        (void)co_await renew_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

asio::awaitable<void> replica_runner::claim_loop() {
    const auto alive = alive_;
    while (*alive && claiming_) {
        try {
            co_await leases_.claim_round();
        } catch (const std::exception& e) {
            log_.error({}, "replica {}: claim round failed: {}", leases_.id(), e.what());
        }
        if (!*alive || !claiming_) co_return;
        claim_timer_.expires_after(timing_.claim_every);
        (void)co_await claim_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

void replica_runner::claim_now() {
    if (claiming_) claim_timer_.cancel();
}

void replica_runner::stop_claiming() {
    claiming_ = false;
    claim_timer_.cancel();
}

asio::awaitable<void> replica_runner::finish() {
    stop_claiming();
    renewing_ = false;
    renew_timer_.cancel();
    fence_timer_.cancel();
    co_await leases_.release_all();
    log_.info({}, "replica {}: every lease released for the other replicas", leases_.id());
}

}  // namespace sessiond
