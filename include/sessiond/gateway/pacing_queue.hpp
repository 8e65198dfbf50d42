#pragma once
// The gateway's side of one username's pacer: every forwarded request waits here until IBKR's limits
// allow it (the global rate, less one request a second left to the session's own calls; the
// endpoint's own limit; a 429 penalty), in a fair queue: the oldest waiter that may go goes first, and
// a request another endpoint's limit holds back never holds up the others.
//
// A request the pacer cannot serve before its deadline is not queued at all: acquire() says when it
// could go (the client gets a local 429 with Retry-After; IBKR never sees it). One whose deadline
// passes in the queue (the endpoints before it used the room) ends the same way.
//
// Everything runs on the event loop's thread.

#include "sessiond/pacing/username_pacer.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <list>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>

namespace sessiond {

// The request may be sent now; its start is recorded. For an endpoint limited by requests in flight
// (history), the place is given back when the permit is destroyed.
class pacing_permit {
public:
    pacing_permit() = default;
    pacing_permit(std::shared_ptr<username_pacer> pacer, std::string path, std::function<void()> released);
    pacing_permit(pacing_permit&& other) noexcept = default;
    pacing_permit& operator=(pacing_permit&& other) noexcept;
    ~pacing_permit();

private:
    void release() noexcept;
    std::shared_ptr<username_pacer> pacer_;
    std::string path_;
    std::function<void()> released_;
};

struct pacing_refusal {
    wall_time retry_at;  // when the request could have gone
    bool penalty = false;  // a 429 penalty holds every caller of the username
};

struct pacing_cancelled {};  // the client went away while the request waited

class pacing_queue {
public:
    using clock = std::chrono::steady_clock;
    using result = std::variant<pacing_permit, pacing_refusal, pacing_cancelled>;

    pacing_queue(boost::asio::any_io_executor executor, std::shared_ptr<username_pacer> pacer);
    ~pacing_queue();
    pacing_queue(const pacing_queue&) = delete;
    pacing_queue& operator=(const pacing_queue&) = delete;

    // Waits for IBKR's limits to allow a request to `path` (under /v1/api, query allowed), at most
    // until `deadline`; `cancelled` ends the wait early (the client's connection closed).
    boost::asio::awaitable<result> acquire(std::string path, clock::time_point deadline,
                                           boost::asio::cancellation_slot cancelled);

    // Something else changed what the pacer allows (a penalty, the session's own call): look again.
    void poke();

    [[nodiscard]] std::size_t waiting() const noexcept { return waiters_.size(); }
    [[nodiscard]] const std::shared_ptr<username_pacer>& pacer() const noexcept { return pacer_; }

    // Of IBKR's global rate, what the gateway leaves to the session's own calls.
    static constexpr int spare_for_session = 1;

private:
    struct waiter {
        std::string path;
        boost::asio::steady_timer timer;
        bool admitted = false;
        std::optional<pacing_permit> permit;  // set when admitted
        waiter(const boost::asio::any_io_executor& ex, std::string p) : path(std::move(p)), timer(ex) {}
    };
    // Admits every waiter that may go now, oldest first, and sets the wake-up for the rest.
    void dispatch();
    [[nodiscard]] wall_time ready_at(const std::string& path, wall_time now) const;
    pacing_permit permit_for(const std::string& path);

    boost::asio::any_io_executor executor_;
    std::shared_ptr<username_pacer> pacer_;
    std::list<waiter*> waiters_;  // oldest first
    boost::asio::steady_timer wake_;
    bool wake_armed_ = false;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace sessiond
