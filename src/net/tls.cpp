#include "sessiond/net/tls.hpp"

namespace sessiond {

namespace ssl = boost::asio::ssl;

expected<std::shared_ptr<ssl::context>> make_client_tls_context(const std::optional<std::filesystem::path>& extra_ca_file) {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
    boost::system::error_code ec;
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                         ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                     ec);
    if (ec) return make_error("TLS setup failed: " + ec.message());
    ctx->set_default_verify_paths(ec);
    if (ec) return make_error("cannot load the system trust store: " + ec.message());
    if (extra_ca_file) {
        ctx->load_verify_file(extra_ca_file->string(), ec);
        if (ec) return make_error("IBKR_CA_FILE " + extra_ca_file->string() + ": " + ec.message());
    }
    ctx->set_verify_mode(ssl::verify_peer, ec);
    if (ec) return make_error("TLS setup failed: " + ec.message());
    return ctx;
}

}  // namespace sessiond
