#pragma once
// IBKR's limits per endpoint (protocol reference section 5), on top of the global rate per username.
// Every caller of a username draws from the same limits (username_pacer.hpp): the session's tickles
// and validates, and the gateway's forwarded requests.
//
// A row names a path under /v1/api, exactly, or every path below it when it ends in '/'. Where the
// documentation gives one limit for a family ("/pa/* 1 per 15 min"), the safe reading is that the
// whole family shares it. /iserver/marketdata/history allows a number of requests in flight rather
// than a rate. The paces of /tickle and /sso/validate are settings (IBKR_PACE_TICKLE,
// IBKR_PACE_VALIDATE); the others are IBKR's documented values.
//
// Pure: no clock, no I/O.

#include <chrono>
#include <cstddef>
#include <optional>
#include <string_view>

namespace sessiond {

struct endpoint_limit {
    std::string_view path;  // under /v1/api; a trailing '/' makes it a prefix
    int count = 1;          // at most `count` requests start in any `window`
    std::chrono::milliseconds window{1'000};
    int max_in_flight = 0;  // > 0: at most this many requests at once, whatever the rate (count unused)
};

class endpoint_limits {
public:
    // IBKR's table, with /tickle and /sso/validate paced as given.
    endpoint_limits(std::chrono::milliseconds pace_tickle, std::chrono::milliseconds pace_validate);

    // The row `path` falls under, as an index for row(): the exact row first, else the longest
    // prefix. `path` may carry the /v1/api prefix and a query string. Null: only the global rate.
    [[nodiscard]] std::optional<std::size_t> row_of(std::string_view path) const noexcept;
    // Row i (< size()), with the configured paces.
    [[nodiscard]] endpoint_limit row(std::size_t i) const noexcept;
    [[nodiscard]] static std::size_t size() noexcept;

private:
    // IBKR's table is one for the process (endpoint_limits.cpp); a username's pacer keeps only its
    // two paces, not a copy of the rows (half a KiB a username).
    std::chrono::milliseconds pace_tickle_;
    std::chrono::milliseconds pace_validate_;
};

// "/v1/api/tickle?x=1" -> "/tickle": the part of a request path the table names.
std::string_view api_path_of(std::string_view target) noexcept;

}  // namespace sessiond
