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

}  // namespace sessiond
