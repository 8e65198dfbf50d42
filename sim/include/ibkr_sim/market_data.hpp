#pragma once
// Made-up but deterministic market data: the same conid and time give the same numbers, so that a
// test can predict them and a proxy's byte-exact forwarding can be checked. Prices move a little
// each second around a base derived from the conid. No I/O.

#include "ibkr_sim/sim_types.hpp"

#include "sessiond/core/error.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sessiond::sim {

// The last price of `conid` at `now`, in cents (the wobble changes once a second).
std::int64_t last_price_cents(std::int64_t conid, wall_time now);
// "681.23"
std::string format_price(std::int64_t cents);

// The snapshot fields the simulator knows (31 last, 55 symbol, 84 bid, 85 ask size, 86 ask, 88 bid
// size, 7059 last size, 87 volume, 70 high, 71 low, 82 change, 83 change %, 7295 open, 7296 close),
// as IBKR sends them: strings. Unknown fields are left out, as IBKR leaves out fields it has no data for.
// The object also carries conid, conidEx, _updated and server_id.
boost::json::object market_data_fields(std::int64_t conid, const std::vector<std::string>& fields, wall_time now);

// "265598,8314" -> conids; a list that is empty, too long (max_snapshot_conids) or not all positive
// integers is an error naming the problem.
inline constexpr std::size_t max_snapshot_conids = 100;
expected<std::vector<std::int64_t>> parse_conids(std::string_view text);
// "31,84,86" -> {"31","84","86"}; every field a number (at most 64 of them).
expected<std::vector<std::string>> parse_fields(std::string_view text);
std::optional<std::int64_t> parse_conid(std::string_view text);

// /iserver/marketdata/history: `period` "{n}{min|h|d|w|m|y}", `bar` "{n}{min|h|d|w|m}". The number of
// bars is period / bar, at least 1 and at most max_history_bars (IBKR's own cap is lower, see README).
inline constexpr std::size_t max_history_bars = 50'000;
struct history_request {
    std::int64_t conid = 0;
    std::string period;  // as given, echoed in timePeriod
    std::int64_t bar_seconds = 0;
    std::size_t bars = 0;
};
expected<history_request> parse_history_request(std::string_view query);
// IBKR's history shape: {"symbol",...,"data":[{"o","c","h","l","v","t"}...],"points",...}; the last bar
// ends at `now` rounded down to the bar length.
boost::json::object history_json(const history_request& req, wall_time now);

}  // namespace sessiond::sim
