#pragma once
// What must survive a restart to keep within IBKR's limits: the logins of the last hour (the login
// budget) and when validate was last called (IBKR allows one a minute; a restart that validated
// again at once would earn a 429 and its penalty). One small text file per IBKR username in the
// state directory, written before each login and each validate:
//
//   sessiond-pacing 1
//   login 1780000000000        unix milliseconds, rounded up; oldest first
//   login 1780000010000
//   validate 1780000012000     at most one
//
// Pure: text in, text out. Reading takes the safe side of everything: a time ahead of `now` (the
// clock stepped back) counts as just now, logins older than an hour are dropped, only the newest
// per_hour are kept. Anything malformed is an error naming the line, never echoing it.

#include "sessiond/core/error.hpp"
#include "sessiond/pacing/login_budget.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace sessiond {

struct persisted_pacing {
    login_budget logins;
    std::optional<wall_time> last_validate;
};

// IBKR paces per username: one file per username, "pacing-" and 16 hex digits of a hash (the
// username is not shown anywhere).
std::string pacing_file_name(std::string_view credential);

std::string serialize_pacing(const login_budget& logins, std::optional<wall_time> last_validate);

expected<persisted_pacing> parse_pacing_record(std::string_view text, login_budget_settings limits, wall_time now);

// What a store read (nothing on a first start, or an error), parsed: the one reading of every store's answer.
expected<std::optional<persisted_pacing>> parse_stored_pacing(const expected<std::optional<std::string>>& stored,
                                                              login_budget_settings limits, wall_time now);

}  // namespace sessiond
