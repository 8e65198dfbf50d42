#pragma once
// The systemd watchdog (WatchdogSec= in the unit): systemd kills and restarts the daemon when it
// has not heard WATCHDOG=1 for the interval. The pings come from a timer on the daemon's event
// loop, so that a ping proves the loop still turns; a stuck loop stops them and systemd acts.
//
// The pings mean liveness, not readiness: an IBKR outage must never stop them. `healthy` is for
// the daemon's own invariants (e.g. "the status listener is still accepting"), not for IBKR.

#include "sessiond/systemd/notifier.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

namespace sessiond {

// The watchdog interval systemd asked for ($WATCHDOG_USEC), via sd_watchdog_enabled(3): nullopt
// when it is unset, zero, malformed, or meant for another process ($WATCHDOG_PID set and not ours).
// Leaves the environment as it is.
std::optional<std::chrono::microseconds> watchdog_interval_from_environment();

// How often to ping for a watchdog interval: half of it (as sd_watchdog_enabled(3) recommends),
// never less than 1 us.
std::chrono::microseconds watchdog_ping_interval(std::chrono::microseconds watchdog_usec);

class watchdog {
public:
    // Pings through `notify` every watchdog_ping_interval(watchdog_usec), on `executor`, when
    // healthy() returns true at that moment. Does nothing until start(). No threads.
    watchdog(boost::asio::any_io_executor executor, notifier& notify, std::chrono::microseconds watchdog_usec,
             std::function<bool()> healthy);
    ~watchdog();  // stop()
    watchdog(const watchdog&) = delete;
    watchdog& operator=(const watchdog&) = delete;

    // The first ping comes one ping interval after start(). Starting a running watchdog does nothing.
    void start();
    // Cancels the timer: no ping after stop() returns, even one whose expiry is already queued.
    void stop();

    [[nodiscard]] bool running() const noexcept;
    [[nodiscard]] std::chrono::microseconds ping_interval() const noexcept;
    // Pings handed to the notifier, and timer expiries at which healthy() said no.
    [[nodiscard]] std::uint64_t pings() const noexcept;
    [[nodiscard]] std::uint64_t skipped() const noexcept;

private:
    struct state;
    static void arm(const std::shared_ptr<state>& s);
    static void on_expiry(const std::shared_ptr<state>& s, std::uint64_t generation, boost::system::error_code ec);

    // Shared with the pending timer handler, which may run after this object is gone.
    std::shared_ptr<state> state_;
};

}  // namespace sessiond
