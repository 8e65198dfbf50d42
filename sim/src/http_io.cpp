#include "ibkr_sim/http_io.hpp"

namespace sessiond::sim {

void finish_response(http_response& res, const http_request& req) {
    res.version(req.version() == 10 ? 10 : 11);
    res.keep_alive(req.keep_alive());
    res.set(http::field::server, "ibkr-sim");
    res.prepare_payload();
}

}  // namespace sessiond::sim
