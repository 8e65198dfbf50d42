#pragma once
// The HTTP message types both of the simulator's servers speak, and the few helpers every handler needs.

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/value.hpp>

#include "sessiond/core/error.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sessiond::sim {

namespace http = boost::beast::http;

using http_request = http::request<http::string_body>;
using http_response = http::response<http::string_body>;

// "/v1/api/tickle?x=1" -> "/v1/api/tickle"
std::string_view target_path(std::string_view target);
// "/control/await?path=x" -> "path=x"; empty without a query.
std::string_view target_query(std::string_view target);

// The decoded name=value pairs of a query string or an application/x-www-form-urlencoded body, in
// order ('+' is a space). Fails on malformed percent-encoding.
expected<std::vector<std::pair<std::string, std::string>>> parse_url_encoded(std::string_view text);

// A query string's parameters, decoded; a repeated name keeps its first value.
using query_params = std::map<std::string, std::string, std::less<>>;
expected<query_params> parse_query(std::string_view query);

// The value of cookie `name` in the request's Cookie header(s), as sent.
std::optional<std::string_view> cookie_value(const http_request& req, std::string_view name);

// "Application/JSON; charset=utf-8" -> "application/json"
std::string media_type(std::string_view content_type);

// The credential of "Authorization: Bearer <token>" (scheme compared case-insensitively).
std::optional<std::string_view> bearer_token(const http_request& req);

// A JSON number that is an integer (int64 range), as the control API's fields take them.
std::optional<std::int64_t> json_integer(const boost::json::value& v);

// A response whose body is the serialized JSON value. Version and keep-alive are the server's job.
http_response json_response(http::status status, const boost::json::value& body,
                            std::string_view content_type = "application/json");

// RFC 9457 Problem Details, as IBKR's OAuth and SSO endpoints answer errors.
http_response problem_response(http::status status, std::string_view detail);

}  // namespace sessiond::sim
