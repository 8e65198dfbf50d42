#pragma once
// Keeps a failure that repeats from flooding the log. During an IBKR outage the same line
// ("503 from tickle") comes back with every retry; the first one is logged, identical ones within
// the window are counted instead, and the next one logged carries the count.
//
//   t=0   key A  -> emit
//   t=10  key A  -> suppress (1)
//   t=20  key A  -> suppress (2)
//   t=61  key A  -> emit, suppressed = 2    "... (2 identical messages suppressed)"
//   t=70  key A  -> suppress (1)
//   t=75  key B  -> emit, previous_suppressed = 1: say that A was suppressed once more
//
// Only the latest key is remembered (like syslog's "last message repeated N times"), so memory is
// bounded whatever the input; a key longer than max_key_bytes is remembered as its prefix plus a
// hash and its length. Pure: the caller passes the time.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sessiond {

class repeat_filter {
public:
    using time_point = std::chrono::steady_clock::time_point;
    using duration = std::chrono::steady_clock::duration;

    static constexpr duration default_window = std::chrono::seconds(60);
    static constexpr std::size_t max_key_bytes = 256;
    // What a longer key is stored as: the prefix, a separator, a 64-bit hash and a length in decimal.
    static constexpr std::size_t max_stored_key_bytes = max_key_bytes + 1 + 20 + 1 + 20;

    struct verdict {
        bool emit = true;
        // When emit: lines of this key suppressed since it was last emitted.
        std::uint64_t suppressed = 0;
        // When the key differs from the previous one: lines of the previous key suppressed since it
        // was last emitted, not reported anywhere yet.
        std::uint64_t previous_suppressed = 0;
    };

    // A window of zero (or less) suppresses nothing.
    explicit repeat_filter(duration window = default_window) : window_(window) {}

    // Decides about one line identified by `key` (what makes two lines "identical": typically the
    // step, the HTTP status and the error, without attempt numbers or delays).
    verdict check(std::string_view key, time_point now);

    // Suppressed lines of the current key not reported yet; take_pending() also clears them (for
    // a last "N identical messages suppressed" at shutdown).
    [[nodiscard]] std::uint64_t pending() const noexcept { return suppressed_; }
    std::uint64_t take_pending() noexcept;

    // Forgets the current key and its pending count (take_pending() first to report it), e.g. once
    // the failure is over, so that the next failure is logged at once even if it is the same.
    void reset() noexcept;

    [[nodiscard]] duration window() const noexcept { return window_; }
    // Bytes held for the current key: at most max_stored_key_bytes.
    [[nodiscard]] std::size_t stored_key_bytes() const noexcept { return key_.size(); }

private:
    duration window_;
    bool has_key_ = false;
    std::string key_;  // the stored form of the current key
    time_point last_emitted_{};
    std::uint64_t suppressed_ = 0;
};

// " (3 identical messages suppressed)", " (1 identical message suppressed)", or "" for 0: to append
// to the emitted line.
std::string suppressed_suffix(std::uint64_t count);

}  // namespace sessiond
