#pragma once
// The configuration's schema: one row per variable the daemon reads. Which names are known (an
// unknown IBKR_* or SESSIOND_* name is a likely typo), which are secret (never quoted), their bounds,
// which limits are IBKR's (SESSIOND_SIMULATOR_LIMITS), and which rows belong to one user (what
// multi-user mode will read from a database instead of the environment) are all read from here.
// Pure: no I/O.

#include "sessiond/core/values.hpp"
#include "sessiond/ibkr/profile.hpp"

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sessiond {

enum class variable_scope {
    daemon,  // one value for the whole process
    user,    // one value per IBKR user: load_user_rows() reads these rows
};

// How a value is read. Plain numbers (seconds, count) are bounded by the row and stored in the
// row's session_options field; the others have their own checks in the loader.
enum class value_parser {
    identifier,      // no blanks or control characters (travels in JSON and JWT claims)
    account_id,      // letters and digits
    ip_address,      // an IPv4 or IPv6 literal
    paper_or_live,
    private_key,     // PEM text, or a path to it
    file_path,
    https_url,
    boolean,
    seconds,         // plain decimal seconds
    count,           // a whole number
    host_and_port,
    region,
    time_of_day,
    provider,
};

// Inclusive maximum, inclusive or exclusive minimum.
struct value_bounds {
    double min = 0;
    bool min_exclusive = false;
    double max = 0;

    [[nodiscard]] bool contains(double v) const noexcept { return v <= max && (min_exclusive ? v > min : v >= min); }
    // "must be between 0 and 60 seconds", "must be more than 0 and at most 120 seconds".
    [[nodiscard]] std::string seconds_message() const;
};

// A limit of IBKR's (or the login budget that protects the account) that only
// SESSIOND_SIMULATOR_LIMITS=true may loosen.
struct ibkr_limit {
    double value = 0;
    bool is_maximum = false;  // looser means above it; otherwise below it
    std::string_view text;    // "IBKR's limit of one validate per minute (60 s)"; empty: no such limit
};

struct variable_row {
    std::string_view name;
    variable_scope scope = variable_scope::daemon;
    bool secret = false;  // its value is never shown in a message
    value_parser parser = value_parser::identifier;
    value_bounds bounds{};                           // seconds and counts
    seconds_f session_options::*seconds = nullptr;   // where a number of seconds goes
    int session_options::*count = nullptr;           // where a count goes
    ibkr_limit limit{};
    std::string_view default_value;  // as the README documents it; empty: required or none
    std::string_view doc;            // one line
};

// Every row, in the order the README's table lists them.
std::span<const variable_row> variable_schema() noexcept;
// nullptr for a name the daemon does not read.
const variable_row* find_variable(std::string_view name) noexcept;
// The row of a variable the loader reads by name; an unknown name is a programming error.
const variable_row& schema_row(std::string_view name) noexcept;

// Variables whose values are secrets: never quoted in a message.
bool is_secret_variable(std::string_view name) noexcept;

// Every variable the daemon reads, in the schema's order. An IBKR_* or SESSIOND_* variable that is
// not here is reported as a likely typo.
std::span<const std::string_view> known_variables();

// A setting looser than IBKR's limit (or than the login budget that protects the account).
struct limit_breach {
    std::string_view variable;
    std::string value;       // "0 s", "50"
    std::string_view limit;  // "IBKR's limit of one validate per minute (60 s)"
};

// The rows with an IBKR limit that `o` loosens, in the schema's order.
std::vector<limit_breach> limits_looser_than_ibkr(const session_options& o);

}  // namespace sessiond
