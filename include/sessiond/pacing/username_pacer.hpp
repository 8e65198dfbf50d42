#pragma once
// What IBKR's limits remember of one IBKR username, and the one place every caller of that username
// asks before a request: the session's login flow and keep-alive, and the gateway's forwarded calls.
// IBKR paces per username, not per session object or per client, so there is one pacer per
// username (the registry's slot owns it) and it outlives the sessions that draw from it: a session
// that replaces another (a reload) continues its pacing, and a 429 that any caller earned silences
// every caller until the penalty ends.
//
// It holds:
//   - IBKR's global rate (IBKR_MAX_REQUESTS_PER_SECOND in any second);
//   - the per-endpoint limits (endpoint_limits.hpp), /tickle and /sso/validate among them;
//   - the login budget (login_budget.hpp) and the earliest next login after a restart;
//   - the 429 penalty, and the penalty box of its IP address (shared with every username that logs in
//     from the same address, see ip_penalty_box);
//   - what the last validate said (paper or live), for a login that defers its validate.
// The logins and the last validate survive restarts through a pacing_store (pacing_store.hpp).
//
// IBKR counts requests as they arrive, the pacer as they start: a request can leave later than it
// started (a busy loop, a slow write) and the one before it can have arrived late, so every limit is
// kept with ibkr_pace_margin to spare. Without it a tickle exactly one pace after the last one by the
// daemon's clock reached ibkr-sim 999 ms after it: a 429 and a 15-minute penalty.
//
// Pure: the caller passes the time; nothing here does I/O.

#include "sessiond/ibkr/profile.hpp"
#include "sessiond/ibkr/protocol.hpp"
#include "sessiond/pacing/endpoint_limits.hpp"
#include "sessiond/pacing/login_budget.hpp"
#include "sessiond/pacing/login_slots.hpp"
#include "sessiond/pacing/pacing_file.hpp"
#include "sessiond/pacing/rate_window.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

namespace sessiond {

inline constexpr std::chrono::milliseconds ibkr_pace_margin{200};

struct pacer_limits {
    int max_requests_per_second = 10;  // 0: none (ibkr-sim only)
    std::chrono::milliseconds pace_tickle{1'000};
    std::chrono::milliseconds pace_validate{60'000};
    login_budget_settings logins;
    // How late a request stamped before a restart may have reached IBKR (its HTTP timeout).
    std::chrono::milliseconds http_timeout{10'000};
};

// IBKR's limits are per username, but its penalty box is per IP address: a client that breaks the
// global rate gets 429s for every request from its address. A 429 that names its own end
// (Retry-After) is taken as the username's; one without is the box, and pauses every username whose
// requests come from that address (the same IBKR_ALLOWED_IP). One object per address, shared by the
// pacers of its usernames (the registry hands it out).
class ip_penalty_box {
public:
    void penalise(wall_time until) noexcept {
        if (!until_ || until > *until_) until_ = until;
    }
    [[nodiscard]] std::optional<wall_time> until(wall_time now) const noexcept {
        if (until_ && *until_ > now) return until_;
        return std::nullopt;
    }

private:
    std::optional<wall_time> until_;
};

// Whose penalty a 429 is: the username's own (IBKR said when it ends), or its address's box.
enum class penalty_scope { username, address };

class username_pacer {
public:
    explicit username_pacer(pacer_limits limits);

    // New limits (a reload): what was recorded is kept.
    void reconfigure(pacer_limits limits);
    [[nodiscard]] const pacer_limits& limits() const noexcept { return limits_; }

    // When a request to `path` (e.g. "/v1/api/tickle") may start: `now` when it may, else the
    // earliest time IBKR's global rate, the endpoint's own limit and a 429 penalty all allow.
    [[nodiscard]] wall_time ready_at(std::string_view path, wall_time now) const { return ready_at(path, now, 0); }
    // The same for a caller that leaves `spare` requests of IBKR's global rate to the others: the
    // gateway leaves one a second to the session's own tickle and login, which therefore always come
    // first. (At a global rate of 1 nothing can be spared.)
    [[nodiscard]] wall_time ready_at(std::string_view path, wall_time now, int spare) const;
    // The endpoint's own limit alone (IBKR's global rate and a penalty aside).
    [[nodiscard]] wall_time endpoint_ready_at(std::string_view path, wall_time now) const;
    // A request to `path` started at `now` (recorded whether or not it was allowed: it happened).
    void record_start(std::string_view path, wall_time now);
    // That request (started at `started`) left later (it had to open a connection first): the
    // endpoint's pace and IBKR's global rate count it from `at`, as IBKR does from its arrival. An
    // earlier time changes nothing.
    void record_sent(std::string_view path, wall_time started, wall_time at);
    // When the newest request to `path` started (or was sent), if the endpoint has a limit of its own.
    [[nodiscard]] std::optional<wall_time> last_start(std::string_view path) const;

    // Endpoints limited by requests in flight (/iserver/marketdata/history): false when `path` has
    // no room now. begin_in_flight() takes a place (when there is room), end_in_flight() gives it back.
    [[nodiscard]] bool has_room(std::string_view path) const;
    bool begin_in_flight(std::string_view path);
    void end_in_flight(std::string_view path);

    // IBKR answered 429: nobody calls IBKR for this username before `until`, and with
    // penalty_scope::address nobody for any username sharing its address's box either.
    void penalise(wall_time until, penalty_scope scope = penalty_scope::username);
    // The later of the username's own penalty and its address's box, while either lasts.
    [[nodiscard]] std::optional<wall_time> penalty_until(wall_time now) const;
    // The box of the address this username's requests come from (replaces any earlier one: a reload
    // may change IBKR_ALLOWED_IP). Without one, an address penalty stays the username's.
    void share_penalty_box(std::shared_ptr<ip_penalty_box> box) { box_ = std::move(box); }
    // The daemon's login slots (login_slots.hpp), shared by every username's pacer; none: no
    // daemon-wide spacing.
    void share_login_slots(std::shared_ptr<login_slots> slots) { slots_ = std::move(slots); }
    // A login that its own budget allows at `allowed`: the daemon-wide slot it takes (reserved now).
    wall_time reserve_login(wall_time allowed, wall_time now) {
        return slots_ ? slots_->reserve(allowed, now) : allowed;
    }
    // When a login's signed first request may go on the wire (login_slots::claim_send), taken for it.
    wall_time claim_login_send(login_slots::request which, wall_time now) {
        return slots_ ? slots_->claim_send(which, now) : now;
    }
    // The slot reserve_login() would give, without taking it.
    [[nodiscard]] wall_time first_login_slot(wall_time allowed) const {
        return slots_ ? slots_->first_free(allowed) : allowed;
    }
    [[nodiscard]] const std::shared_ptr<ip_penalty_box>& penalty_box() const noexcept { return box_; }

    // Full logins (the OAuth token request that begins token + SSO): when the next may start (the
    // budget, and after a restart the newest login's possible lateness), and recording one.
    [[nodiscard]] wall_time login_ready_at(wall_time now);
    void record_login(wall_time at);
    [[nodiscard]] const login_budget& logins() const noexcept { return logins_; }

    // The login type (paper/live) the last validate reported, in this process (the pacing record does
    // not keep it): a login within validate's minute defers validate only when that agrees with
    // IBKR_ENV, or when nothing says otherwise (after a restart), isPaper then checking it.
    [[nodiscard]] const std::optional<ibkr_environment>& validated_login_type() const noexcept { return validated_; }
    void set_validated_login_type(ibkr_environment e) { validated_ = e; }

    // What a previous process of this username left, added once before the first session starts:
    // its logins and its last validate. Its newest login and validate may still have been on their
    // way to IBKR when it ended (up to http_timeout after their stamps): the next ones wait their
    // pace from then. It may also have tickled a moment before it ended, which the record does not
    // say: the first tickle waits IBKR's tickle pace from now.
    // Empty: a first start, nothing to add. Only the first call counts: the sessions after it
    // continue from what the pacer holds.
    void restore(const std::optional<persisted_pacing>& saved, wall_time now);
    // Several replicas share the record (in the database): what another replica added since is
    // added again before each session starts, not only the first time. Attempts already held count once.
    void restore_shared(const std::optional<persisted_pacing>& saved, wall_time now);
    [[nodiscard]] bool restored() const noexcept { return restored_; }
    // What a pacing_store keeps: the logins and the last validate.
    [[nodiscard]] persisted_pacing to_persist() const;

private:
    // One endpoint row's recent starts, newest last: at most the row's count. A start stamped after
    // `now` is honoured as stamped (a restored request may reach IBKR that late).
    struct endpoint_history {
        time_points starts;
        int in_flight = 0;
    };
    void record_row(std::size_t row, wall_time at);

    pacer_limits limits_;
    endpoint_limits table_;
    std::vector<endpoint_history> history_;  // one per table_ row
    rate_window requests_;
    login_budget logins_;
    wall_time login_not_before_{};
    std::optional<wall_time> penalty_until_;
    std::shared_ptr<ip_penalty_box> box_;
    std::shared_ptr<login_slots> slots_;
    std::optional<ibkr_environment> validated_;
    bool restored_ = false;
};

// What an ibkr_client asks before a login's signed request goes on the wire (ibkr_client::gate_logins):
// the username's pacer, and through it the daemon-wide login rate, gives the moment.
inline std::function<wall_time(step, wall_time)> login_send_gate(std::shared_ptr<username_pacer> pacer) {
    return [pacer = std::move(pacer)](step s, wall_time now) {
        return pacer->claim_login_send(s == step::oauth ? login_slots::request::token : login_slots::request::sso, now);
    };
}

}  // namespace sessiond
