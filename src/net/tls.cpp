#include "sessiond/net/tls.hpp"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstdlib>

namespace sessiond {

namespace ssl = boost::asio::ssl;

namespace {

// update-ca-certificates names its links <8 hex digits>.<n>.
bool holds_hash_links(const std::filesystem::path& dir) {
    std::error_code ec;
    for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (name.size() >= 10 && name[8] == '.' && name.find_first_not_of("0123456789abcdef") == 8) return true;
    }
    return false;
}

}  // namespace

system_trust choose_system_trust(const std::filesystem::path& default_dir, const char* cert_file_env,
                                 const char* cert_dir_env) {
    const std::filesystem::path dir = cert_dir_env != nullptr && *cert_dir_env != '\0' ? cert_dir_env : default_dir;
    if (cert_file_env != nullptr && *cert_file_env != '\0') return {system_trust::kind_t::bundle_and_directory, dir};
    if (holds_hash_links(dir)) return {system_trust::kind_t::hashed_directory, dir};
    return {system_trust::kind_t::bundle_and_directory, dir};
}

expected<std::shared_ptr<ssl::context>> make_client_tls_context(const std::optional<std::filesystem::path>& extra_ca_file) {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
    boost::system::error_code ec;
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                         ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                     ec);
    if (ec) return make_error("TLS setup failed: " + ec.message());
    const system_trust trust = choose_system_trust(X509_get_default_cert_dir(), std::getenv(X509_get_default_cert_file_env()),
                                                   std::getenv(X509_get_default_cert_dir_env()));
    if (trust.kind == system_trust::kind_t::hashed_directory) {
        if (SSL_CTX_load_verify_dir(ctx->native_handle(), trust.directory.c_str()) != 1)
            return make_error("cannot use the system trust store " + trust.directory.string());
    } else {
        ctx->set_default_verify_paths(ec);
        if (ec) return make_error("cannot load the system trust store: " + ec.message());
    }
    if (extra_ca_file) {
        ctx->load_verify_file(extra_ca_file->string(), ec);
        if (ec) return make_error("IBKR_CA_FILE " + extra_ca_file->string() + ": " + ec.message());
    }
    ctx->set_verify_mode(ssl::verify_peer, ec);
    if (ec) return make_error("TLS setup failed: " + ec.message());
    return ctx;
}

}  // namespace sessiond
