#pragma once
// A small synchronous HTTP/1.1 client for tests: plain HTTP (control APIs, status servers) or HTTPS
// that trusts exactly one CA file and verifies the host name (SNI set for DNS names). Every request
// has one deadline covering connect, handshake, write and read.

#include "sessiond/core/error.hpp"

#include <boost/beast/http/verb.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sessiond::testing {

using header_list = std::vector<std::pair<std::string, std::string>>;

struct http_result {
    unsigned status = 0;
    header_list headers;
    std::string body;

    // The first header of that name (case-insensitive), or empty.
    [[nodiscard]] std::string header(std::string_view name) const;
    [[nodiscard]] bool has_header(std::string_view name) const;
    // The body as JSON; a null value when it does not parse.
    [[nodiscard]] boost::json::value json() const;
};

struct http_request_options {
    header_list headers;
    std::optional<std::string> content_type;
    std::chrono::milliseconds timeout{10'000};
    bool content_length = true;  // false: no Content-Length header (and no body), e.g. to provoke a 411
};

struct tls_client_settings {
    std::filesystem::path ca_file;
    std::string server_name;  // verified against the certificate; SNI when it is not an IP literal
};

class http_client {
public:
    // Plain HTTP to host:port.
    http_client(std::string host, std::uint16_t port);
    // HTTPS to host:port.
    http_client(std::string host, std::uint16_t port, tls_client_settings tls);
    ~http_client();
    http_client(const http_client&) = delete;
    http_client& operator=(const http_client&) = delete;
    http_client(http_client&&) noexcept;
    http_client& operator=(http_client&&) noexcept;

    // Off (default): a fresh connection per request. On: one connection reused while the server keeps it.
    void keep_alive(bool on);

    expected<http_result> request(boost::beast::http::verb method, std::string_view target, std::string body = {},
                                  const http_request_options& options = {});
    expected<http_result> get(std::string_view target, const http_request_options& options = {});
    expected<http_result> post(std::string_view target, std::string body, const http_request_options& options = {});
    expected<http_result> post_json(std::string_view target, const boost::json::value& body,
                                    const http_request_options& options = {});

    // Called with every response received (e.g. to check later that none carried a secret).
    void on_response(std::function<void(const http_result&)> hook);

    // How many TCP connections this client opened so far (to check keep-alive reuse).
    [[nodiscard]] std::size_t connections_opened() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace sessiond::testing
