#pragma once
// What every answer of the daemon's API has in common, whichever endpoint makes it: the request's
// HTTP version and keep-alive, and Cache-Control: no-store (a status, a token or a credential's
// metadata must not be kept by a proxy or a browser).

#include "sessiond/server/http_messages.hpp"

#include <boost/beast/http/status.hpp>
#include <boost/json/object.hpp>

#include <string>
#include <string_view>

namespace sessiond {

server_response respond(const server_request& req, boost::beast::http::status status, std::string body,
                        std::string_view content_type);
server_response json_response(const server_request& req, boost::beast::http::status status,
                              const boost::json::object& body);

}  // namespace sessiond
