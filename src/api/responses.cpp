#include "sessiond/api/responses.hpp"

#include <boost/beast/http/field.hpp>
#include <boost/json/serialize.hpp>

namespace sessiond {

namespace http = boost::beast::http;

server_response respond(const server_request& req, http::status status, std::string body,
                        std::string_view content_type) {
    server_response res{status, req.version()};
    res.set(http::field::content_type, content_type);
    res.set(http::field::cache_control, "no-store");
    res.keep_alive(req.keep_alive());
    res.body() = std::move(body);
    res.prepare_payload();
    return res;
}

server_response json_response(const server_request& req, http::status status, const boost::json::object& body) {
    return respond(req, status, boost::json::serialize(body), "application/json");
}

}  // namespace sessiond
