#include "sessiond/replica/lease_plan.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace sessiond {

lease_timing lease_timing_for(std::chrono::milliseconds ttl, std::chrono::milliseconds http_timeout) noexcept {
    lease_timing t;
    t.ttl = ttl;
    t.renew_every = ttl / 6;
    t.claim_every = ttl / 6;
    t.margin = std::max(ttl * 2 / 5, http_timeout + std::chrono::seconds(1));
    return t;
}

expected<void> check_lease_timing(const lease_timing& t, std::chrono::milliseconds http_timeout) {
    if (t.margin <= http_timeout)
        return make_error(fmt::format("the lease margin ({} ms) must be longer than the HTTP timeout ({} ms): a call "
                                      "started just before the lease's end could outlive it",
                                      t.margin.count(), http_timeout.count()));
    if (t.ttl - t.margin <= t.renew_every)
        return make_error(fmt::format("the lease ({} ms) less its margin ({} ms) must be longer than the renewal "
                                      "period ({} ms): the lease would stop being usable between renewals",
                                      t.ttl.count(), t.margin.count(), t.renew_every.count()));
    if (t.renew_every.count() <= 0 || t.claim_every.count() <= 0)
        return make_error("the renewal and claim periods must be positive");
    return {};
}

std::chrono::milliseconds takeover_bound(const lease_timing& t) noexcept { return t.ttl + t.claim_every; }

bool lease_usable(std::chrono::steady_clock::time_point renewal_sent, std::chrono::steady_clock::time_point now,
                  const lease_timing& t) noexcept {
    return now < renewal_sent + t.ttl - t.margin;
}

std::size_t fair_share(std::size_t users, std::size_t live_replicas) noexcept {
    if (live_replicas == 0) return users;
    return (users + live_replicas - 1) / live_replicas;
}

bool give_back_unreachable(std::size_t other_live_replicas, double coin) noexcept {
    return other_live_replicas > 0 && coin < 0.5;  // with nobody else to take it, keep trying
}

claim_step plan_claim_round(std::size_t held, std::size_t users, std::size_t live_replicas, std::size_t batch) noexcept {
    const std::size_t share = fair_share(users, live_replicas);
    if (held > share) return {0, held - share};
    return {std::min(share - held, batch), 0};
}

}  // namespace sessiond
