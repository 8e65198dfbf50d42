#include "sessiond/systemd/watchdog.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/steady_timer.hpp>

#include <systemd/sd-daemon.h>

#include <algorithm>

namespace sessiond {

std::optional<std::chrono::microseconds> watchdog_interval_from_environment() {
    std::uint64_t usec = 0;
    // sd_watchdog_enabled checks $WATCHDOG_PID against getpid() and parses $WATCHDOG_USEC; it
    // returns > 0 only when both say the watchdog is ours.
    if (::sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
    return std::chrono::microseconds(static_cast<std::chrono::microseconds::rep>(usec));
}

std::chrono::microseconds watchdog_ping_interval(std::chrono::microseconds watchdog_usec) {
    return std::max(watchdog_usec / 2, std::chrono::microseconds(1));
}

struct watchdog::state {
    state(boost::asio::any_io_executor executor, notifier& n, std::chrono::microseconds i, std::function<bool()> h)
        : timer(std::move(executor)), notify(&n), interval(i), healthy(std::move(h)) {}

    boost::asio::steady_timer timer;
    notifier* notify;
    std::chrono::microseconds interval;
    std::function<bool()> healthy;
    bool running = false;
    std::uint64_t pings = 0;
    std::uint64_t skipped = 0;
    // One generation per start(): an expiry already queued when stop() ran belongs to an older one.
    std::uint64_t generation = 0;
};

void watchdog::arm(const std::shared_ptr<state>& s) {
    s->timer.expires_after(s->interval);
    s->timer.async_wait([s, generation = s->generation](boost::system::error_code ec) { on_expiry(s, generation, ec); });
}

void watchdog::on_expiry(const std::shared_ptr<state>& s, std::uint64_t generation, boost::system::error_code ec) {
    if (ec == boost::asio::error::operation_aborted || !s->running || generation != s->generation) return;
    if (s->healthy()) {
        s->notify->watchdog_ping();
        ++s->pings;
    } else {
        ++s->skipped;
    }
    if (s->running && generation == s->generation) arm(s);  // healthy() may have stopped or restarted us
}

watchdog::watchdog(boost::asio::any_io_executor executor, notifier& notify, std::chrono::microseconds watchdog_usec,
                   std::function<bool()> healthy)
    : state_(std::make_shared<state>(std::move(executor), notify, watchdog_ping_interval(watchdog_usec),
                                     std::move(healthy))) {}

watchdog::~watchdog() { stop(); }

void watchdog::start() {
    if (state_->running) return;
    state_->running = true;
    ++state_->generation;
    arm(state_);
}

void watchdog::stop() {
    state_->running = false;
    state_->timer.cancel();
}

bool watchdog::running() const noexcept { return state_->running; }
std::chrono::microseconds watchdog::ping_interval() const noexcept { return state_->interval; }
std::uint64_t watchdog::pings() const noexcept { return state_->pings; }
std::uint64_t watchdog::skipped() const noexcept { return state_->skipped; }

}  // namespace sessiond
