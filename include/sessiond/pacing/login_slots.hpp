#pragma once
// The daemon-wide login rate (SESSIOND_DAEMON_LOGIN_INTERVAL): however many users' sessions want to
// log in at once (a start with 1,000 users, the end of an outage, IBKR's nightly reset), their OAuth token
// requests start at least one interval apart, each in a slot of its own. Each username's own login
// budget still applies (username_pacer): a session takes the first free slot at or after the time
// its budget allows, so a session whose budget says "in an hour" reserves a slot in an hour and
// holds nobody else up meanwhile.
//
// Slots are kept as merged runs of busy time, so that a burst of n reservations costs O(n log n) and
// memory grows with the runs, not with the logins; runs that ended are dropped as time passes.
// Pure: the caller passes the time.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <map>

namespace sessiond {

class login_slots {
public:
    using clock = std::chrono::system_clock;
    // One login per `interval`; zero or less: no spacing (every reservation is granted as asked).
    explicit login_slots(std::chrono::microseconds interval) : interval_(interval) {}

    // The earliest start at or after `earliest` at which no other reserved login is within one
    // interval, reserved for the caller. `now` drops what has ended.
    clock::time_point reserve(clock::time_point earliest, clock::time_point now);
    // The start reserve() would give, without reserving it.
    [[nodiscard]] clock::time_point first_free(clock::time_point earliest) const;

    // A login's signed request (its token request, or its SSO request) about to go on the wire: the
    // earliest moment it may, one interval after the last of its kind sent, taken for it. The slots
    // space the logins' starts; this spaces what IBKR sees when the signing worker, held up on a busy
    // machine, releases several at once (the simulator then saw a burst and boxed the address for 15
    // minutes).
    enum class request { token, sso };
    clock::time_point claim_send(request which, clock::time_point now);

    void set_interval(std::chrono::microseconds interval) { interval_ = interval; }
    [[nodiscard]] std::chrono::microseconds interval() const noexcept { return interval_; }
    // How many runs of reserved slots are kept (for tests and the memory bound).
    [[nodiscard]] std::size_t runs() const noexcept { return busy_.size(); }

private:
    std::chrono::microseconds interval_;
    std::map<clock::time_point, clock::time_point> busy_;  // start -> end of each run, disjoint, sorted
    clock::time_point last_token_sent_{};
    clock::time_point last_sso_sent_{};
};

}  // namespace sessiond
