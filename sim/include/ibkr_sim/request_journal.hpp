#pragma once
// What happened at the IBKR endpoints, for tests to observe: the last N requests as events, counts
// per path, per path and status and per rejection reason, and listeners woken by every new event
// (the long poll of /control/await waits on them instead of polling).

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

namespace sessiond::sim {

struct request_event {
    std::uint64_t seq = 0;
    std::int64_t t_ms = 0;   // milliseconds since the simulator started
    std::string method;
    std::string path;
    unsigned status = 0;     // 0 when no response was sent (hang, reset)
    std::string fault;       // fault action name, or empty
    std::string reason;      // rejection reason, or empty
};

class request_journal {
public:
    // Distinct paths counted one by one; further paths are counted together under other_paths.
    static constexpr std::size_t max_counted_paths = 1000;
    inline static const std::string other_paths = "(other)";

    using steady_time = std::chrono::steady_clock::time_point;
    using listener = std::function<void()>;

    explicit request_journal(steady_time started, std::size_t capacity = 10000)
        : started_(started), capacity_(capacity) {}

    // Assigns seq and t_ms, updates the counts and calls every listener.
    void record(request_event e, steady_time at);

    // {"next":N,"events":[...]} with the retained events whose seq >= since.
    [[nodiscard]] boost::json::object events_since(std::uint64_t since) const;
    // Requests recorded to path (with that status, if given) since the last reset_counts().
    [[nodiscard]] std::uint64_t count(std::string_view path, std::optional<unsigned> status) const;

    [[nodiscard]] boost::json::object calls_json() const;
    [[nodiscard]] boost::json::object statuses_json() const;
    [[nodiscard]] boost::json::object rejections_json() const;
    void reset_counts();

    std::uint64_t subscribe(listener l);
    void unsubscribe(std::uint64_t id);

private:
    steady_time started_;
    std::size_t capacity_;
    std::uint64_t next_seq_ = 1;
    std::deque<request_event> events_;
    std::map<std::string, std::uint64_t, std::less<>> calls_;
    std::map<std::string, std::uint64_t, std::less<>> statuses_;  // "<path> <status>"
    std::map<std::string, std::uint64_t, std::less<>> rejections_;
    std::map<std::uint64_t, listener> listeners_;
    std::uint64_t next_listener_ = 1;
};

}  // namespace sessiond::sim
