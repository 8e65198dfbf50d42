#pragma once
// The rules a replica follows for its leases (issue 13), as pure functions: no clock, no database.
// The replica's loop (replica_runner.hpp) passes its own monotonic time and the database's answers.
//
// Self-fencing. IBKR cannot check a fencing token, so a replica stops itself: a lease is usable for
// an IBKR call until (when its last renewal was *sent*) + ttl - margin, by the replica's monotonic
// clock. Sent, not answered: the database may have stamped the expiry any time after the send. The
// margin is longer than an HTTP call may take, so that a call started inside the window ends before
// the database lets another replica claim the user.

#include "sessiond/core/error.hpp"

#include <chrono>
#include <cstddef>
#include <optional>

namespace sessiond {

struct lease_timing {
    std::chrono::milliseconds ttl{30'000};          // how long a claim or renewal holds, by the database's clock
    std::chrono::milliseconds renew_every{5'000};   // how often a replica renews all its leases
    std::chrono::milliseconds claim_every{5'000};   // how often it looks for free or expired users
    std::chrono::milliseconds margin{12'000};       // subtracted from ttl for self-fencing; > the HTTP timeout
};

// The timing of SESSIOND_LEASE_TTL: renewals and claim rounds every sixth of it, a margin of two
// fifths of it, or of the HTTP timeout and a second when that is longer (check_lease_timing then
// says when the TTL is too short for that timeout).
[[nodiscard]] lease_timing lease_timing_for(std::chrono::milliseconds ttl, std::chrono::milliseconds http_timeout) noexcept;

// Whether the timing is safe with calls of at most `http_timeout`: the margin outlasts a call, and
// a renewal comes before the usable window closes. The error names the setting and the numbers.
expected<void> check_lease_timing(const lease_timing& t, std::chrono::milliseconds http_timeout);

// The longest a crashed replica's users wait for another: its leases expire, the next claim
// round finds them (then one login, which the caller adds).
[[nodiscard]] std::chrono::milliseconds takeover_bound(const lease_timing& t) noexcept;

// May the replica call IBKR for a user whose lease it last renewed (sent) at `renewal_sent`?
[[nodiscard]] bool lease_usable(std::chrono::steady_clock::time_point renewal_sent,
                                std::chrono::steady_clock::time_point now, const lease_timing& t) noexcept;

// How many users a replica should hold: its fair share of those with credentials among the live
// replicas (rounded up, so that every user has a holder). No live replica counted: all of them.
[[nodiscard]] std::size_t fair_share(std::size_t users, std::size_t live_replicas) noexcept;

// One claim round: how many to claim (at most `batch`), or how many to hand back (surplus when a
// replica joined), never both.
struct claim_step {
    std::size_t claim = 0;
    std::size_t hand_back = 0;
};
[[nodiscard]] claim_step plan_claim_round(std::size_t held, std::size_t users, std::size_t live_replicas,
                                           std::size_t batch) noexcept;

// A replica that reaches the database but not IBKR gives its users back so that replicas that can
// reach IBKR take them. Once it has given one back it is "cut off" for `cut_off_for`: it neither
// says it is alive (so the others' fair shares grow to cover its users) nor claims, and gives back,
// one a claim round, each user whose session still cannot reach IBKR. Then it tries again. So a
// host that lost IBKR costs each of its users one move (a login) per `cut_off_for` at most.
struct unreachable_rule {
    std::chrono::milliseconds cut_off_for{std::chrono::minutes(10)};
};
// Whether to give one such user back this round: only when another replica is live, and on a coin
// toss (`coin` in [0, 1), below one half), so that replicas cut off together do not move their
// users in step. Pure.
[[nodiscard]] bool give_back_unreachable(std::size_t other_live_replicas, double coin) noexcept;

}  // namespace sessiond
