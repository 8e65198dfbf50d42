#pragma once
// Tells systemd what the daemon is doing (sd_notify(3)): READY=1, RELOADING=1, STOPPING=1,
// STATUS=<line> and WATCHDOG=1, sent to $NOTIFY_SOCKET.
//
// Outside systemd (no $NOTIFY_SOCKET) every call is a no-op that returns false, so the daemon uses
// one notifier whether or not it runs under systemd.
//
// Each message is one datagram to a local AF_UNIX socket. sd_notify's socket is blocking, but
// service managers drain the notify socket continuously and a datagram is queued in one copy, so in
// practice a call returns at once; it never waits for an answer. Call it from the event loop.

#include <cstdint>
#include <string>
#include <string_view>

namespace sessiond {

inline constexpr std::string_view notify_ready = "READY=1";
inline constexpr std::string_view notify_stopping = "STOPPING=1";
inline constexpr std::string_view notify_watchdog = "WATCHDOG=1";

// "RELOADING=1\nMONOTONIC_USEC=<usec>": systemd 253+ requires the CLOCK_MONOTONIC timestamp for
// Type=notify-reload and uses it to match the READY=1 that ends the reload; 252 ignores it.
std::string reloading_message(std::uint64_t monotonic_usec);

// "STATUS=<line>" that `systemctl status` shows. Any user may read it, so the line is redacted
// first; line breaks and other control characters become spaces (one datagram may carry several
// assignments, one per line), and the line is cut at max_status_bytes on a UTF-8 boundary, ending
// in "...".
inline constexpr std::size_t max_status_bytes = 512;
std::string status_message(std::string_view line);

// CLOCK_MONOTONIC now, in microseconds: the clock systemd's MONOTONIC_USEC refers to.
std::uint64_t monotonic_usec_now();

class notifier {
public:
    // Reads $NOTIFY_SOCKET now: a notifier made outside systemd stays disabled.
    notifier();

    [[nodiscard]] bool enabled() const noexcept { return enabled_; }

    // Each returns true when the datagram was sent.
    bool ready();
    bool reloading();
    bool stopping();
    bool status(std::string_view line);
    bool watchdog_ping();
    // Any assignment(s), e.g. "READY=1\nSTATUS=connected": for messages not covered above.
    bool send(std::string_view message);

    // Datagrams sent, and attempts that failed (socket gone, permission...), since construction.
    [[nodiscard]] std::uint64_t sent() const noexcept { return sent_; }
    [[nodiscard]] std::uint64_t failed() const noexcept { return failed_; }

private:
    bool enabled_ = false;
    std::uint64_t sent_ = 0;
    std::uint64_t failed_ = 0;
};

}  // namespace sessiond
