#include "sessiond/server/http_messages.hpp"

#include "sessiond/core/ascii.hpp"

#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <fmt/format.h>

#include <openssl/crypto.h>

#include <algorithm>
#include <iterator>
#include <sstream>

namespace sessiond {

namespace http = boost::beast::http;

namespace {

constexpr std::size_t max_logged_path = 200;

bool has_no_body(http::status status) {
    const unsigned code = static_cast<unsigned>(status);
    return (code >= 100 && code < 200) || code == 204 || code == 304;
}

}  // namespace

server_response json_error(http::status status, std::string_view message, unsigned version, bool keep_alive) {
    server_response res{status, version};
    res.set(http::field::content_type, "application/json");
    res.body() = boost::json::serialize(
        boost::json::value{{"error", message}, {"status", static_cast<unsigned>(status)}});
    res.keep_alive(keep_alive);
    res.prepare_payload();
    return res;
}

std::optional<http::status> status_for_read_error(const boost::system::error_code& ec) {
    if (ec.category() != http::make_error_code(http::error::bad_method).category()) return std::nullopt;
    switch (static_cast<http::error>(ec.value())) {
        case http::error::end_of_stream:
        case http::error::partial_message:
        case http::error::need_more:
        case http::error::need_buffer:
        case http::error::stale_parser: return std::nullopt;
        // buffer_overflow: the read buffer is sized for one header, so only a header can overflow it.
        case http::error::header_limit:
        case http::error::buffer_overflow: return http::status::request_header_fields_too_large;
        case http::error::body_limit: return http::status::payload_too_large;
        default: return http::status::bad_request;
    }
}

request_summary summarize(const server_request& req) {
    request_summary s;
    s.method = std::string(req.method_string());
    s.path = path_for_log(req.target());
    s.version = req.version() == 10 ? 10 : 11;
    s.keep_alive = req.keep_alive();
    s.head = req.method() == http::verb::head;
    return s;
}

bool finish_response(server_response& res, const request_summary& req, bool may_keep_alive) {
    // Read before the version changes: for HTTP/1.1, keep_alive() is false only with "Connection: close".
    const bool keep = may_keep_alive && req.keep_alive && res.keep_alive();
    res.version(req.version);
    res.keep_alive(keep);
    if (has_no_body(res.result())) {
        // RFC 9110 8.6: no Content-Length in a 1xx or 204; in a 304 it would have to be the 200's.
        res.body().clear();
        res.erase(http::field::content_length);
        res.erase(http::field::transfer_encoding);
    } else {
        res.prepare_payload();
    }
    return keep;
}

prebuilt_response::prebuilt_response(server_response res)
    : status_(res.result_int()), keep_alive_(res.keep_alive()) {
    for (std::size_t i = 0; i < wire_.size(); ++i) {
        server_response copy = res;
        request_summary form;
        form.version = i / 2 == 1 ? 11 : 10;
        form.keep_alive = i % 2 == 1;
        finish_response(copy, form, true);
        std::ostringstream out;
        out << copy;
        wire_[i] = out.str();
        const auto end = wire_[i].find("\r\n\r\n");
        header_size_[i] = end == std::string::npos ? wire_[i].size() : end + 4;
    }
}

std::string_view prebuilt_response::wire(const request_summary& req, bool may_keep_alive, bool& keep_alive) const {
    keep_alive = may_keep_alive && req.keep_alive && keep_alive_;
    const std::size_t i = (req.version == 10 ? 0 : 2) + (keep_alive ? 1 : 0);
    const std::string_view bytes = wire_[i];
    return req.head ? bytes.substr(0, header_size_[i]) : bytes;
}

std::string path_for_log(std::string_view target) {
    const auto end = target.find_first_of("?#");
    const std::string_view path = target.substr(0, end);
    std::string out;
    out.reserve(std::min(path.size(), max_logged_path + 3));
    for (const char c : path) {
        const auto byte = static_cast<unsigned char>(c);
        const bool printable = byte > 0x20 && byte < 0x7f;
        if (out.size() + (printable ? 1 : 3) > max_logged_path) {  // whole escapes only
            out += "...";
            break;
        }
        if (printable)
            out += c;
        else
            fmt::format_to(std::back_inserter(out), "%{:02X}", byte);
    }
    return out;
}

std::optional<std::string_view> bearer_token(const server_request& request) {
    const auto it = request.find(http::field::authorization);
    if (it == request.end()) return std::nullopt;
    std::string_view value = it->value();
    constexpr std::string_view scheme = "bearer ";
    if (value.size() < scheme.size() || !equals_ignoring_case(value.substr(0, scheme.size()), scheme))
        return std::nullopt;
    value.remove_prefix(scheme.size());
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
    if (value.empty()) return std::nullopt;
    return value;
}

std::vector<std::string_view> query_values(std::string_view query, std::string_view name) {
    std::vector<std::string_view> values;
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view item = query.substr(0, amp);
        const auto eq = item.find('=');
        if (item.substr(0, eq) == name) values.push_back(eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1));
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
    }
    return values;
}

bool bearer_matches(const server_request& request, const secret& token) {
    const std::optional<std::string_view> sent = bearer_token(request);
    if (!sent) return false;
    const std::string_view value = *sent;
    const std::string_view expected = token.reveal();
    if (value.size() != expected.size() || expected.empty()) return false;
    return CRYPTO_memcmp(value.data(), expected.data(), expected.size()) == 0;
}

}  // namespace sessiond
