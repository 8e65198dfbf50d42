#pragma once
// The simulator's TLS identity: a throw-away CA and a server certificate it signed (EC P-256), or
// certificate and key files given by the operator. Clients trust the CA through a file.

#include "sessiond/core/error.hpp"

#include <boost/asio/ssl/context.hpp>

#include <filesystem>
#include <optional>
#include <string>

namespace sessiond::sim {

struct tls_identity {
    std::string cert_chain_pem;  // server certificate, then the CA certificate
    std::string key_pem;         // server private key (PKCS#8)
    std::string ca_pem;          // empty when the identity came from operator files
};

// SANs DNS:localhost, IP:127.0.0.1, IP:::1; with host set, exactly that one name (DNS or IP).
expected<tls_identity> generate_tls_identity(const std::optional<std::string>& host);

expected<tls_identity> load_tls_identity(const std::filesystem::path& cert, const std::filesystem::path& key);

// Reuses ca.pem, server-cert.pem and server-key.pem from dir when all exist, else generates them there:
// a simulator restarted on the same directory presents the same CA.
expected<tls_identity> load_or_create_tls_identity(const std::filesystem::path& dir,
                                                   const std::optional<std::string>& host);

// TLS 1.2 or newer, the identity's chain and key.
expected<boost::asio::ssl::context> make_server_context(const tls_identity& identity);

}  // namespace sessiond::sim
