#pragma once
// Where a username's pacing record (its logins of the last hour and its last validate) survives a
// restart. The file store (one file per username in the state directory) is the first; multi-user
// mode adds a database store behind the same interface.
//
// Both calls are awaited on the event loop and do their disk or database work elsewhere.

#include "sessiond/core/error.hpp"
#include "sessiond/pacing/pacing_file.hpp"

#include <boost/asio/awaitable.hpp>

#include <optional>
#include <string>

namespace sessiond {

class pacing_store {
public:
    virtual ~pacing_store() = default;

    // What the store held, read against `limits` as of `now`; empty on a first start. An error names
    // what could not be read (never its content): the caller then takes the safe side.
    struct loaded {
        expected<std::optional<persisted_pacing>> record;
        std::string note;  // what the store had to tidy first (e.g. temporary files removed); empty when nothing
    };
    virtual boost::asio::awaitable<loaded> load(login_budget_settings limits, wall_time now) = 0;
    virtual boost::asio::awaitable<expected<void>> save(persisted_pacing record) = 0;
    // For log lines: "/var/lib/ibkr-sessiond/pacing-0123456789abcdef".
    [[nodiscard]] virtual std::string where() const = 0;
};

}  // namespace sessiond
