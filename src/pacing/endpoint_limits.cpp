#include "sessiond/pacing/endpoint_limits.hpp"

#include <array>

namespace sessiond {

using std::chrono::milliseconds;
using namespace std::chrono_literals;

namespace {

// Rows 0 and 1 take their windows from the settings (IBKR_PACE_TICKLE, IBKR_PACE_VALIDATE).
constexpr std::size_t tickle_row = 0;
constexpr std::size_t validate_row = 1;
constexpr std::array ibkr_table{
    endpoint_limit{"/tickle", 1, 1s},
    endpoint_limit{"/sso/validate", 1, 60s},
    endpoint_limit{"/iserver/account/orders", 1, 5s},
    endpoint_limit{"/iserver/account/trades", 1, 5s},
    endpoint_limit{"/iserver/account/pnl/partitioned", 1, 5s},
    endpoint_limit{"/portfolio/accounts", 1, 5s},
    endpoint_limit{"/portfolio/subaccounts", 1, 5s},
    endpoint_limit{"/iserver/marketdata/snapshot", 10, 1s},
    endpoint_limit{"/iserver/marketdata/history", 1, 0ms, 5},
    endpoint_limit{"/iserver/scanner/params", 1, 15min},
    endpoint_limit{"/iserver/scanner/run", 1, 1s},
    endpoint_limit{"/pa/", 1, 15min},
    endpoint_limit{"/fyi/", 1, 1s},
};

}  // namespace

endpoint_limits::endpoint_limits(milliseconds pace_tickle, milliseconds pace_validate)
    : pace_tickle_(pace_tickle), pace_validate_(pace_validate) {}

endpoint_limit endpoint_limits::row(std::size_t i) const noexcept {
    endpoint_limit out = ibkr_table[i];
    if (i == tickle_row) out.window = pace_tickle_;
    if (i == validate_row) out.window = pace_validate_;
    return out;
}

std::size_t endpoint_limits::size() noexcept { return ibkr_table.size(); }

std::string_view api_path_of(std::string_view target) noexcept {
    target = target.substr(0, target.find('?'));
    constexpr std::string_view api_prefix = "/v1/api";
    if (target.starts_with(api_prefix) && (target.size() == api_prefix.size() || target[api_prefix.size()] == '/'))
        target.remove_prefix(api_prefix.size());
    return target;
}

std::optional<std::size_t> endpoint_limits::row_of(std::string_view path) const noexcept {
    path = api_path_of(path);
    std::optional<std::size_t> best;
    for (std::size_t i = 0; i < ibkr_table.size(); ++i) {
        const std::string_view row = ibkr_table[i].path;
        if (row.ends_with('/')) {
            if (path.starts_with(row) && (!best || ibkr_table[*best].path.size() < row.size())) best = i;
        } else if (path == row) {
            return i;
        }
    }
    return best;
}

}  // namespace sessiond
