#pragma once
// GET /metrics: the daemon's state as Prometheus text (format 0.0.4), built at scrape time from
// the same snapshot the status endpoint serves. Session series carry an `account` label, so that
// several sessions in one process (multi-user mode) stay apart.

#include "sessiond/api/status_view.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sessiond {

// Requests the API served, by path (its own paths, or "other") and status code. Keyed by views of
// those constant names, so that counting a request allocates nothing.
using served_counts = std::map<std::pair<std::string_view, unsigned>, std::uint64_t>;

class session_keeper;
class served_requests;
struct server_stats;
struct gateway_stats;

struct process_stats {
    std::optional<double> resident_bytes;
    std::optional<double> open_fds;
    std::optional<double> cpu_seconds;
};

// From /proc/self: a few small reads, cheap enough per scrape.
process_stats read_process_stats();

struct metrics_input {
    const status_input& status;
    std::vector<const session_keeper*> running;  // parallel to status.users, for the request-duration histograms
    const served_counts* served = nullptr;
    process_stats process;
    std::uint64_t watchdog_pings = 0;
    // The API server's own counts: connections, and the requests it refused before the API saw them.
    const server_stats* server = nullptr;
    // The gateway's counts (null: no gateway) and the calls waiting in it now.
    const gateway_stats* gateway = nullptr;
    std::size_t gateway_waiting = 0;
    // Per-user series only while there are at most this many users (SESSIOND_METRICS_USER_SERIES):
    // the sessions by state are always there, and /metrics stays bounded at 10,000 users.
    std::size_t per_user_limit = 100;
};

std::string render_metrics(const metrics_input& in);

}  // namespace sessiond
