#pragma once
// A synchronous WebSocket client for tests, written like IBKR's CP Gateway clients (ibind's
// IbkrWsClient): plain ws:// to a local gateway, text frames. Every operation gives up after
// `patience` (the socket is then closed), so a server bug fails a test instead of hanging it.

#include "support/http_client.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sessiond::testing {

class ws_test_client {
public:
    static constexpr std::chrono::seconds patience{15};

    // Connects and asks for the upgrade with these extra headers; see upgraded(). With `tls`, over TLS
    // (wss://), verifying the server against its CA file and name.
    explicit ws_test_client(const boost::asio::ip::tcp::endpoint& at,
                            std::vector<std::pair<std::string, std::string>> headers = {},
                            std::string target = "/v1/api/ws", std::optional<tls_client_settings> tls = std::nullopt);
    ~ws_test_client();
    ws_test_client(const ws_test_client&) = delete;
    ws_test_client& operator=(const ws_test_client&) = delete;

    [[nodiscard]] bool upgraded() const noexcept;
    // When the upgrade was refused: the HTTP status, its Retry-After and body.
    [[nodiscard]] unsigned refused_status() const noexcept;
    [[nodiscard]] const std::string& refused_retry_after() const noexcept;
    [[nodiscard]] const std::string& refused_body() const noexcept;

    void send(std::string_view text);
    // The next message; empty with error() set when the socket ended or patience ran out.
    std::string read();
    // Reads until a message equal to `text` (true), or the end (false); `seen` collects the others.
    bool read_until(std::string_view text, std::vector<std::string>* seen = nullptr);
    // Reads until a message containing `part` (that message), or the end (empty).
    std::string read_until_containing(std::string_view part);
    [[nodiscard]] const boost::system::error_code& error() const noexcept;
    [[nodiscard]] boost::beast::websocket::close_reason close_reason() const;
    void close();
    // Every message received so far, for secret checks.
    [[nodiscard]] const std::string& transcript() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace sessiond::testing
