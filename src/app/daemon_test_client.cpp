#include "sessiond/app/daemon_test_client.hpp"

#include "sessiond/app/cli.hpp"
#include "sessiond/session/connection_test.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>

#include <fmt/format.h>

namespace sessiond {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using asio::ip::tcp;

namespace {

std::string who(const lock_holder& holder, std::string_view api) {
    return fmt::format("the running daemon ({}, {})", holder.pid ? "pid " + std::to_string(*holder.pid) : "pid unknown",
                       api);
}

// Why the CLI does not simply log in instead: said whenever it cannot get the daemon's verdict.
constexpr std::string_view will_not_log_in =
    "test-connection does not log in itself while a daemon keeps this IBKR username: its login would end the "
    "daemon's SSO session";

// Text from another process, safe for a terminal: no control characters, bounded.
std::string printable(std::string_view text) {
    std::string out;
    for (const char c : text)
        if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f && out.size() < 300) out += c;
    return out;
}

// The daemon's own error text ({"error": "..."}); empty when none.
std::string error_text(std::string_view body) {
    boost::system::error_code ec;
    const json::value v = json::parse(body, ec);
    if (ec || !v.is_object()) return {};
    const auto* e = v.as_object().if_contains("error");
    return e != nullptr && e->is_string() ? printable(e->as_string()) : std::string();
}

delegated_test cannot_ask(std::string why) {
    return {exit_tempfail, std::move(why) + "\n" + std::string(will_not_log_in) + "\n"};
}

struct http_answer {
    unsigned status = 0;
    std::string body;
};

// "http://127.0.0.1:4257" or "http://[::1]:4257" into an endpoint.
expected<tcp::endpoint> endpoint_of(std::string_view api) {
    constexpr std::string_view scheme = "http://";
    if (!api.starts_with(scheme)) return make_error("is not an http:// address");
    api.remove_prefix(scheme.size());
    const auto colon = api.rfind(':');
    if (colon == std::string_view::npos) return make_error("has no port");
    std::string_view host = api.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(std::string(host), ec);
    if (ec) return make_error("has a host that is not an IP address");
    const std::string port_text(api.substr(colon + 1));
    char* end = nullptr;
    const unsigned long port = std::strtoul(port_text.c_str(), &end, 10);
    if (port_text.empty() || *end != '\0' || port == 0 || port > 65535) return make_error("has no valid port");
    return tcp::endpoint(address, static_cast<std::uint16_t>(port));
}

// One request, one answer, one deadline over all of it. Blocking: the CLI is a one-shot.
expected<http_answer> post(const tcp::endpoint& to, std::string_view host_header, std::string_view target,
                           const secret& token, std::chrono::milliseconds timeout) {
    asio::io_context io;
    expected<http_answer> result = make_error("no answer");
    auto exchange = [&]() -> asio::awaitable<void> {
        beast::tcp_stream stream(io);
        stream.expires_after(timeout);
        co_await stream.async_connect(to, asio::use_awaitable);
        http::request<http::string_body> req{http::verb::post, target, 11};
        req.set(http::field::host, host_header);
        req.set(http::field::user_agent, "ibkr-sessiond test-connection");
        req.set(http::field::authorization, "Bearer " + std::string(token.reveal()));
        req.keep_alive(false);
        req.prepare_payload();
        co_await http::async_write(stream, req, asio::use_awaitable);
        beast::flat_buffer buffer;
        http::response_parser<http::string_body> parser;
        parser.body_limit(1024 * 1024);
        co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
        result = http_answer{parser.get().result_int(), std::move(parser.get().body())};
    };
    asio::co_spawn(io, exchange(), [&](std::exception_ptr e) {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const boost::system::system_error& failure) {
            result = make_error(failure.code() == beast::error::timeout
                                    ? fmt::format("no answer within {} s", timeout.count() / 1000)
                                    : failure.code().message());
        }
    });
    io.run();
    return result;
}

}  // namespace

std::string daemon_api_address(const lock_holder& holder, const service_options& service) {
    if (!holder.api.empty()) return holder.api;
    if (service.listen.port == 0) return {};
    return api_url(service.listen.host, service.listen.port);
}

delegated_test interpret_daemon_answer(const lock_holder& holder, std::string_view api, unsigned http_status,
                                       std::string_view body) {
    const std::string daemon = who(holder, api);
    const std::string said = error_text(body);
    const std::string because = said.empty() ? std::string() : ": " + said;
    if (http_status == 200) {
        boost::system::error_code ec;
        const json::value v = json::parse(body, ec);
        auto report = ec ? expected<connection_test_report>(make_error("not JSON")) : report_from_json(v);
        if (!report)
            return cannot_ask("asked " + daemon + ", but its report cannot be read: " + report.error().message);
        std::string out = "asked " + daemon + "\n" + format_test_report(*report);
        if (const auto* status = v.as_object().if_contains("status"); status != nullptr && status->is_string())
            out += "the daemon's session is " + printable(status->as_string()) + "\n";
        return {report->passed() ? exit_ok : exit_failure, std::move(out)};
    }
    if (http_status == 401 || http_status == 403) {
        return cannot_ask(fmt::format(
            "{} refused the test (HTTP {}{}). Ask it with its API token: set SESSIOND_API_TOKEN (or the systemd "
            "credential sessiond-api-token) to the daemon's token in the settings test-connection reads",
            daemon, http_status, because));
    }
    if (http_status == 409)
        return cannot_ask(fmt::format("{} is not configured (HTTP 409{}); see {}/api/ibkr/status", daemon, because, api));
    return cannot_ask(fmt::format("{} did not give a verdict (HTTP {}{}); see {}/api/ibkr/status", daemon, http_status,
                                  because, api));
}

delegated_test ask_daemon_to_test(const lock_holder& holder, const settings& config, std::chrono::milliseconds timeout) {
    const std::string api = daemon_api_address(holder, config.service);
    if (holder.command == "test-connection") {
        return cannot_ask(describe_holder(holder, config.options.endpoint) +
                          "; run test-connection again once it has ended");
    }
    if (api.empty()) {
        return cannot_ask(describe_holder(holder, config.options.endpoint) +
                          "; its API address is unknown (SESSIOND_LISTEN has port 0)");
    }
    if (!config.service.api_token) {
        return cannot_ask(who(holder, api) +
                          " keeps this IBKR username (the one in IBKR_CREDENTIAL); it must be asked with its API token, "
                          "and none is configured: set SESSIOND_API_TOKEN (or the systemd credential "
                          "sessiond-api-token) to the daemon's token");
    }
    const auto to = endpoint_of(api);
    if (!to) return cannot_ask(fmt::format("{}: its API address {} {}", who(holder, api), api, to.error().message));
    const auto answer = post(*to, api.substr(std::string_view("http://").size()), "/api/ibkr/test",
                             *config.service.api_token, timeout);
    if (!answer) return cannot_ask(fmt::format("cannot ask {}: {}", who(holder, api), answer.error().message));
    return interpret_daemon_answer(holder, api, answer->status, answer->body);
}

}  // namespace sessiond
