#include "sessiond/pacing/endpoint_limits.hpp"

namespace sessiond {

using std::chrono::milliseconds;
using namespace std::chrono_literals;

endpoint_limits::endpoint_limits(milliseconds pace_tickle, milliseconds pace_validate)
    : rows_{
          {"/tickle", 1, pace_tickle},
          {"/sso/validate", 1, pace_validate},
          {"/iserver/account/orders", 1, 5s},
          {"/iserver/account/trades", 1, 5s},
          {"/iserver/account/pnl/partitioned", 1, 5s},
          {"/portfolio/accounts", 1, 5s},
          {"/portfolio/subaccounts", 1, 5s},
          {"/iserver/marketdata/snapshot", 10, 1s},
          {"/iserver/marketdata/history", 1, 0ms, 5},
          {"/iserver/scanner/params", 1, 15min},
          {"/iserver/scanner/run", 1, 1s},
          {"/pa/", 1, 15min},
          {"/fyi/", 1, 1s},
      } {}

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
    for (std::size_t i = 0; i < rows_.size(); ++i) {
        const std::string_view row = rows_[i].path;
        if (row.ends_with('/')) {
            if (path.starts_with(row) && (!best || rows_[*best].path.size() < row.size())) best = i;
        } else if (path == row) {
            return i;
        }
    }
    return best;
}

}  // namespace sessiond
