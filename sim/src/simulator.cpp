#include "ibkr_sim/simulator.hpp"

#include "sessiond/core/text_file.hpp"
#include "ibkr_sim/rsa_public_key.hpp"
#include "sessiond/crypto/tls_identity.hpp"

#include <boost/json/serialize.hpp>

#include <unistd.h>

namespace sessiond::sim {

namespace {

expected<tls_identity> identity_for(const server_config& s) {
    if (s.tls_cert && s.tls_key) return load_tls_identity(*s.tls_cert, *s.tls_key);
    if (s.tls_dir) return load_or_create_tls_identity(*s.tls_dir, s.cert_host);
    return generate_tls_identity(s.cert_host);
}

https_server_options https_options(const server_config& s) {
    https_server_options o;
    o.max_connections = s.max_connections;
    o.history_delay = s.history_delay;
    o.websocket.heartbeat = s.ws_heartbeat;
    o.websocket.market_data_interval = s.ws_market_data_interval;
    o.websocket.send_queue_bytes = s.ws_send_queue;
    o.websocket.idle_timeout = s.ws_idle_timeout;
    return o;
}

}  // namespace

simulator::simulator(asio::io_context& ioc, asio::ssl::context tls, ibkr_model model, const sim_config& config,
                     logger log)
    : tls_(std::move(tls)),
      model_(std::move(model)),
      journal_(std::chrono::steady_clock::now()),
      https_(ioc, tls_, model_, faults_, journal_, websockets_, log, https_options(config.server)),
      control_api_(model_, faults_, journal_, websockets_,
                   [this] { return connection_stats{https_.open_connections(), https_.refused_connections()}; }),
      control_(ioc, control_api_, journal_, log, config.server.max_connections) {}

simulator::~simulator() {
    if (remove_ca_file_) {
        std::error_code ignored;
        std::filesystem::remove(ca_file_, ignored);
    }
}

expected<std::unique_ptr<simulator>> simulator::create(asio::io_context& ioc, const sim_config& config, logger log) {
    auto model = ibkr_model::create(config.model);
    if (!model) return make_error(model.error().message);
    auto identity = identity_for(config.server);
    if (!identity) return make_error("TLS identity: " + identity.error().message);
    auto tls = make_server_context(*identity);
    if (!tls) return make_error("TLS identity: " + tls.error().message);

    std::unique_ptr<simulator> sim(
        new simulator(ioc, std::move(*tls), std::move(*model), config, log));
    if (!identity->ca_pem.empty()) {
        const std::filesystem::path path =
            config.server.ca_out ? std::filesystem::path(*config.server.ca_out)
                                 : std::filesystem::temp_directory_path() /
                                       ("ibkr-sim-" + std::to_string(::getpid()) + "-ca.pem");
        if (auto written = write_text_file(path, identity->ca_pem, 0644); !written) return written.error();
        std::error_code ec;
        const auto absolute = std::filesystem::absolute(path, ec);
        sim->ca_file_ = ec ? path.string() : absolute.string();
        sim->remove_ca_file_ = !config.server.ca_out;
    }
    auto https_port = sim->https_.listen(config.server.https);
    if (!https_port) return make_error("--listen: " + https_port.error().message);
    auto control_port = sim->control_.listen(config.server.control);
    if (!control_port) return make_error("--control: " + control_port.error().message);
    sim->https_port_ = *https_port;
    sim->control_port_ = *control_port;
    return sim;
}

void simulator::start() {
    https_.start();
    control_.start();
}

void simulator::stop() {
    https_.stop();
    control_.stop();
}

std::string simulator::ready_line() const {
    return boost::json::serialize(boost::json::object{
        {"ready", true}, {"https_port", https_port_}, {"control_port", control_port_}, {"ca_file", ca_file_}});
}

}  // namespace sessiond::sim
