#pragma once
// Reading fields out of remote JSON. Remote input is untrusted: every accessor answers "absent"
// rather than throwing when a field is missing or has another type.

#include "sessiond/core/error.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <string_view>

namespace sessiond {

// Parses a body that must be one JSON object. The error says what was wrong, never quotes the body.
expected<boost::json::object> parse_json_object(std::string_view body);

std::optional<bool> json_bool(const boost::json::object& o, std::string_view key);
// Integers, and doubles that hold an integral value (some IBKR fields arrive as 4.6E5).
std::optional<std::int64_t> json_int(const boost::json::object& o, std::string_view key);
std::optional<std::string_view> json_string(const boost::json::object& o, std::string_view key);
const boost::json::object* json_object(const boost::json::object& o, std::string_view key);
const boost::json::array* json_array(const boost::json::object& o, std::string_view key);

}  // namespace sessiond
