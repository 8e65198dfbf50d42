#include "ibkr_sim/http_io.hpp"

#include <boost/beast/http/error.hpp>

namespace sessiond::sim {

std::optional<http::status> status_for_read_error(const boost::system::error_code& ec) {
    if (ec == http::error::header_limit) return http::status::request_header_fields_too_large;
    if (ec == http::error::body_limit) return http::status::payload_too_large;
    if (ec == http::error::end_of_stream || ec == http::error::partial_message) return std::nullopt;
    if (ec.category() == http::make_error_code(http::error::bad_method).category()) return http::status::bad_request;
    return std::nullopt;
}

void finish_response(http_response& res, const http_request& req) {
    res.version(req.version() == 10 ? 10 : 11);
    res.keep_alive(req.keep_alive());
    res.set(http::field::server, "ibkr-sim");
    res.prepare_payload();
}

}  // namespace sessiond::sim
