#include "ibkr_sim/http_types.hpp"

#include <boost/json/serialize.hpp>
#include <boost/url/pct_string_view.hpp>

#include <algorithm>
#include <cctype>
#include <limits>

namespace sessiond::sim {

std::string_view target_path(std::string_view target) { return target.substr(0, target.find('?')); }

std::string_view target_query(std::string_view target) {
    const auto at = target.find('?');
    return at == std::string_view::npos ? std::string_view{} : target.substr(at + 1);
}

// Boost 1.81's params_encoded_view reads past the end of a view that is not NUL-terminated (the
// last value runs on into " HTTP/1.1" of a request target), so the split is done here and Boost.URL
// only decodes each piece.
expected<std::vector<std::pair<std::string, std::string>>> parse_url_encoded(std::string_view text) {
    std::vector<std::pair<std::string, std::string>> out;
    const boost::urls::encoding_opts plus_is_space(true);
    auto decode = [&](std::string_view piece) -> std::optional<std::string> {
        auto pct = boost::urls::make_pct_string_view(piece);
        if (!pct) return std::nullopt;
        return pct->decode(plus_is_space);
    };
    while (!text.empty()) {
        const auto amp = text.find('&');
        const std::string_view pair = text.substr(0, amp);
        text = amp == std::string_view::npos ? std::string_view{} : text.substr(amp + 1);
        if (pair.empty()) continue;
        const auto eq = pair.find('=');
        auto name = decode(pair.substr(0, eq));
        auto value = decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
        if (!name || !value) return make_error("malformed percent-encoding");
        out.emplace_back(std::move(*name), std::move(*value));
    }
    return out;
}

expected<query_params> parse_query(std::string_view query) {
    auto pairs = parse_url_encoded(query);
    if (!pairs) return make_error("the query string does not parse: " + pairs.error().message);
    query_params params;
    for (auto& [name, value] : *pairs) params.emplace(std::move(name), std::move(value));
    return params;
}

std::optional<std::string_view> cookie_value(const http_request& req, std::string_view name) {
    const auto [first, last] = req.equal_range(http::field::cookie);
    for (auto field = first; field != last; ++field) {
        std::string_view rest = field->value();
        while (!rest.empty()) {
            const auto semicolon = rest.find(';');
            std::string_view pair = rest.substr(0, semicolon);
            rest = semicolon == std::string_view::npos ? std::string_view{} : rest.substr(semicolon + 1);
            while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
            const auto eq = pair.find('=');
            if (eq != std::string_view::npos && pair.substr(0, eq) == name) return pair.substr(eq + 1);
        }
    }
    return std::nullopt;
}

std::string media_type(std::string_view content_type) {
    std::string_view type = content_type.substr(0, content_type.find(';'));
    while (!type.empty() && std::isspace(static_cast<unsigned char>(type.back())) != 0) type.remove_suffix(1);
    while (!type.empty() && std::isspace(static_cast<unsigned char>(type.front())) != 0) type.remove_prefix(1);
    std::string out(type);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

std::optional<std::string_view> bearer_token(const http_request& req) {
    const std::string_view value = req[http::field::authorization];
    constexpr std::string_view scheme = "bearer ";
    if (value.size() <= scheme.size()) return std::nullopt;
    for (std::size_t i = 0; i < scheme.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(value[i])) != scheme[i]) return std::nullopt;
    const std::string_view token = value.substr(scheme.size());
    if (token.find_first_of(" \t") != std::string_view::npos) return std::nullopt;
    return token;
}

std::optional<std::int64_t> json_integer(const boost::json::value& v) {
    if (v.is_int64()) return v.get_int64();
    if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        return static_cast<std::int64_t>(v.get_uint64());
    return std::nullopt;
}

http_response json_response(http::status status, const boost::json::value& body, std::string_view content_type) {
    http_response res{status, 11};
    res.set(http::field::content_type, content_type);
    res.body() = boost::json::serialize(body);
    return res;
}

http_response problem_response(http::status status, std::string_view detail) {
    return json_response(status,
                         boost::json::object{{"type", "about:blank"},
                                             {"title", http::obsolete_reason(status)},
                                             {"status", static_cast<unsigned>(status)},
                                             {"detail", detail}},
                         "application/problem+json");
}

}  // namespace sessiond::sim
