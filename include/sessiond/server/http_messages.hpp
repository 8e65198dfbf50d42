#pragma once
// The messages the status server speaks and the rules it applies to them, without I/O: which status a
// request that could not be read earns, how a handler's response is made ready for the wire, the JSON
// error body, and what of a request target may appear in a log line.

#include "sessiond/core/secret.hpp"

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/system/error_code.hpp>

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sessiond {

using server_request = boost::beast::http::request<boost::beast::http::string_body>;
using server_response = boost::beast::http::response<boost::beast::http::string_body>;

// {"error": message, "status": N} with Content-Type application/json: used by the server for its own
// 400/408/413/431/500 and by the API for 401/403/404/405. Content-Length is set.
server_response json_error(boost::beast::http::status status, std::string_view message, unsigned version = 11,
                           bool keep_alive = false);

// The status owed to a client whose request could not be read: 431 (header over the limit), 413 (body
// over the limit), 400 (anything malformed); nothing when the connection simply ended, timed out or
// was closed, since then there is nobody (or no point) to answer.
std::optional<boost::beast::http::status> status_for_read_error(const boost::system::error_code& ec);

// What the server keeps of a request once the handler owns it.
struct request_summary {
    std::string method;  // as sent, e.g. "GET"
    std::string path;    // path_for_log(target)
    unsigned version = 11;
    bool keep_alive = false;  // what the request asked for (HTTP/1.1 unless "close", HTTP/1.0 only with "keep-alive")
    bool head = false;
};
request_summary summarize(const server_request& req);

// Makes the handler's response ready for the wire, and says whether the connection stays open:
// the request's HTTP version; keep-alive only when the request asked for it, the handler did not say
// "Connection: close" and may_keep_alive (false once the server stops); Content-Length of the body;
// no body and no Content-Length at all for 1xx, 204 and 304. The server adds no Server header. For HEAD the headers are
// those of the full response (Content-Length included); the caller sends the header only.
bool finish_response(server_response& res, const request_summary& req, bool may_keep_alive);

// A constant response serialised once for each wire form (HTTP/1.0 or 1.1, keep-alive or not), each
// exactly as finish_response makes it ready: answering is writing the same bytes again.
class prebuilt_response {
public:
    explicit prebuilt_response(server_response res);

    // The bytes owed to req (the header only for HEAD), and in keep_alive whether the connection stays
    // open, by finish_response's rule.
    [[nodiscard]] std::string_view wire(const request_summary& req, bool may_keep_alive, bool& keep_alive) const;
    [[nodiscard]] unsigned status() const noexcept { return status_; }

private:
    std::array<std::string, 4> wire_;  // [version 1.1][keep-alive]
    std::array<std::size_t, 4> header_size_{};
    unsigned status_ = 0;
    bool keep_alive_ = false;  // the response does not say "Connection: close"
};

// The token of "Authorization: Bearer <token>" (scheme in any case, blanks around the token
// trimmed); none without that header, with another scheme or with an empty token.
std::optional<std::string_view> bearer_token(const server_request& request);

// True when the request carries "Authorization: Bearer <token>" with exactly this token (compared in
// constant time; an empty token never matches).
bool bearer_matches(const server_request& request, const secret& token);

// The values of parameter `name` in a query string (without its '?'), in order and as sent (not
// percent-decoded): "" for "name" and "name=". None of the API's parameters has a use for '%'.
std::vector<std::string_view> query_values(std::string_view query, std::string_view name);

// The path of a request target as it may appear in a log line: no query or fragment (they can carry
// tokens), bytes outside printable ASCII (blanks and controls included) escaped as %XX, at most 200 characters.
std::string path_for_log(std::string_view target);

}  // namespace sessiond
