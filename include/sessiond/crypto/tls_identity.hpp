#pragma once
// A TLS server identity: a CA of its own and a server certificate it signed (EC P-256), or
// certificate and key files given by the operator. Clients that verify trust the CA through its file.
// ibkr-sim presents one; so does the daemon's HTTPS gateway listener when no certificate is configured.

#include "sessiond/core/error.hpp"

#include <boost/asio/ssl/context.hpp>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

namespace sessiond {

struct tls_identity {
    std::string cert_chain_pem;  // server certificate, then the CA certificate
    std::string key_pem;         // server private key (PKCS#8)
    std::string ca_pem;          // empty when the identity came from operator files
};

struct tls_identity_options {
    // SANs DNS:localhost, IP:127.0.0.1, IP:::1; with host set, exactly that one name (DNS or IP).
    std::optional<std::string> host;
    std::chrono::seconds validity{30L * 24 * 3600};
    std::string ca_name = "ibkr-sim test CA";
    // load_or_create: files whose certificate ends sooner than this are made again (0: never).
    std::chrono::seconds renew_before{0};
};

expected<tls_identity> generate_tls_identity(const tls_identity_options& options);
inline expected<tls_identity> generate_tls_identity(const std::optional<std::string>& host) {
    return generate_tls_identity(tls_identity_options{.host = host});
}

expected<tls_identity> load_tls_identity(const std::filesystem::path& cert, const std::filesystem::path& key);

// Reuses ca.pem, server-cert.pem and server-key.pem from dir when all exist, else generates them there:
// a simulator restarted on the same directory presents the same CA.
// Says in `created` whether it made them.
expected<tls_identity> load_or_create_tls_identity(const std::filesystem::path& dir, const tls_identity_options& options,
                                                   bool* created = nullptr);
inline expected<tls_identity> load_or_create_tls_identity(const std::filesystem::path& dir,
                                                          const std::optional<std::string>& host) {
    return load_or_create_tls_identity(dir, tls_identity_options{.host = host});
}

// TLS 1.2 or newer, the identity's chain and key.
expected<boost::asio::ssl::context> make_server_context(const tls_identity& identity);

}  // namespace sessiond
