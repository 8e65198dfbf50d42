#pragma once
// The TLS client context for IBKR: peer verification always on (there is no switch to turn it off),
// TLS 1.2 or later, the system trust store plus optional extra anchors (IBKR_CA_FILE).

#include "sessiond/core/error.hpp"

#include <boost/asio/ssl/context.hpp>

#include <filesystem>
#include <memory>
#include <optional>

namespace sessiond {

expected<std::shared_ptr<boost::asio::ssl::context>> make_client_tls_context(
    const std::optional<std::filesystem::path>& extra_ca_file);

// Where the system's trust anchors come from. Parsing the whole bundle (about 150 certificates)
// costs OpenSSL 3 some 35 ms at every start; a hashed directory (/etc/ssl/certs with its
// <hash>.0 links, as update-ca-certificates keeps it) is read lazily, one issuer at a time, during
// the first handshake. The bundle is the fallback, and SSL_CERT_FILE set by the operator wins.
struct system_trust {
    enum class kind_t { hashed_directory, bundle_and_directory };
    kind_t kind = kind_t::bundle_and_directory;
    std::filesystem::path directory;
};
// cert_file_env / cert_dir_env: the values of SSL_CERT_FILE / SSL_CERT_DIR, if set.
system_trust choose_system_trust(const std::filesystem::path& default_dir, const char* cert_file_env,
                                 const char* cert_dir_env);

}  // namespace sessiond
