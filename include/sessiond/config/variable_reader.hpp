#pragma once
// How a loader reads variables: the values as configured, each checked against its schema row, and
// every problem reported in words that never quote a secret. The loader of the daemon's settings and
// load_user_rows() both read through one variable_reader.

#include "sessiond/config/settings.hpp"
#include "sessiond/config/variable_schema.hpp"

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sessiond {

// Any source of variables as a string map: the environment over the env file today, a database row
// in multi-user mode.
struct configured_values {
    // Name -> value as configured, the strongest source already chosen. Views: the caller keeps the
    // storage alive while the values are read.
    std::map<std::string_view, std::string_view, std::less<>> values;
    // The value of every secret variable in every source, overridden ones included: no message may
    // quote them under another variable's name either.
    std::vector<std::string_view> secret_values;
};

class variable_reader {
public:
    variable_reader(const configured_values& values, std::vector<config_problem>& problems,
                    std::vector<std::string>& warnings)
        : values_(values), problems_(problems), warnings_(warnings) {}

    // The value as configured. Empty values are returned.
    [[nodiscard]] std::optional<std::string_view> find(std::string_view name) const;
    // A variable the daemon cannot run without: reports it when missing or empty.
    std::optional<std::string_view> required(std::string_view name);
    // An optional variable: unset and empty both mean "use the default".
    [[nodiscard]] std::optional<std::string_view> optional(std::string_view name) const;

    // The number of seconds in `name` when it is set and parses; reports it when it does not.
    std::optional<double> seconds(std::string_view name);
    // A row's number (seconds or a count) into its field of `o`, when set and within the row's bounds.
    void load_number(const variable_row& row, session_options& o);
    // The boolean in `name` when it is set and parses; reports it when it does not.
    std::optional<bool> boolean(std::string_view name, bool blocks_start = false);

    void problem(std::string_view variable, std::string message, bool blocks_start = false);
    void warn(std::string text);
    // The value as a message may show it: quoted, or "the value" when it is (or holds) a secret.
    [[nodiscard]] std::string shown(std::string_view variable, std::string_view value) const;

private:
    // A secret pasted into the wrong variable must not come out through that variable's message.
    [[nodiscard]] bool looks_secret(std::string_view value) const;

    const configured_values& values_;
    std::vector<config_problem>& problems_;
    std::vector<std::string>& warnings_;
};

// Control characters escaped, so that a value can never forge a line of a report; at most 60 bytes
// of the original, cut on a UTF-8 character boundary.
std::string printable(std::string_view text);

// A blank or control character: in an identifier or token, always a paste error.
bool has_space_or_control(std::string_view text) noexcept;

}  // namespace sessiond
