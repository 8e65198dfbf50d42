#include "sessiond/core/values.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <arpa/inet.h>

#include <array>
#include <cctype>
#include <charconv>

namespace sessiond {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_host_name_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.' || c == '_';
}

constexpr std::string_view url_example = "(e.g. https://api.ibkr.com)";

}  // namespace

expected<seconds_f> parse_seconds(std::string_view text) {
    const auto not_seconds = [] { return make_error("is not a number of seconds (e.g. 60 or 0.5)"); };
    // Checked by hand first: from_chars alone would accept "inf", "nan" and "1e3".
    std::size_t i = 0;
    while (i < text.size() && is_digit(text[i])) ++i;
    if (i == 0) return not_seconds();
    if (i < text.size() && text[i] == '.') {
        const std::size_t fraction = ++i;
        while (i < text.size() && is_digit(text[i])) ++i;
        if (i == fraction) return not_seconds();
    }
    if (i != text.size()) return not_seconds();
    double value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, std::chars_format::fixed);
    if (ec != std::errc() || end != text.data() + text.size()) return not_seconds();
    return seconds_f(value);
}

expected<std::chrono::seconds> parse_time_of_day(std::string_view text) {
    const auto not_a_time = [] { return make_error("is not a time of day (HH:MM or HH:MM:SS, e.g. 01:00)"); };
    if (text.size() != 5 && text.size() != 8) return not_a_time();
    int parts[3] = {0, 0, 0};
    for (std::size_t i = 0; i * 3 < text.size(); ++i) {
        const char a = text[i * 3];
        const char b = text[i * 3 + 1];
        if (a < '0' || a > '9' || b < '0' || b > '9') return not_a_time();
        if (i * 3 + 2 < text.size() && text[i * 3 + 2] != ':') return not_a_time();
        parts[i] = (a - '0') * 10 + (b - '0');
    }
    if (parts[0] > 23 || parts[1] > 59 || parts[2] > 59) return not_a_time();
    return std::chrono::seconds(parts[0] * 3600 + parts[1] * 60 + parts[2]);
}

expected<bool> parse_bool(std::string_view text) {
    for (std::string_view yes : {"true", "yes", "on", "1"})
        if (equals_ignoring_case(text, yes)) return true;
    for (std::string_view no : {"false", "no", "off", "0"})
        if (equals_ignoring_case(text, no)) return false;
    return make_error("is not a boolean (true or false)");
}

expected<void> check_ip_literal(std::string_view text) {
    // inet_pton needs a terminated string; anything longer than an IPv6 text form is not one.
    std::array<char, INET6_ADDRSTRLEN + 1> buffer{};
    std::array<unsigned char, sizeof(struct in6_addr)> binary{};
    if (text.empty() || text.size() >= buffer.size()) return make_error("is not an IP address");
    text.copy(buffer.data(), text.size());
    if (inet_pton(AF_INET, buffer.data(), binary.data()) == 1) return {};
    if (inet_pton(AF_INET6, buffer.data(), binary.data()) == 1) return {};
    return make_error("is not an IP address");
}

expected<base_url> parse_base_url(std::string_view text) {
    constexpr std::string_view not_https = "must start with https:// (plain http would send credentials in clear)";
    // parse_uri, not parse_absolute_uri: the latter refuses a fragment outright, and "must not contain a
    // fragment" tells the operator more than "is not a valid URL". Both require a scheme.
    const auto parsed = boost::urls::parse_uri(text);
    if (!parsed) {
        if (text.find("://") == std::string_view::npos) return make_error(std::string(not_https));
        return make_error("is not a valid URL " + std::string(url_example));
    }
    const boost::urls::url_view& url = *parsed;
    if (!equals_ignoring_case(url.scheme(), "https") || !url.has_authority())
        return make_error(std::string(not_https));
    if (url.has_userinfo()) return make_error("must not contain a user name or password");
    if (url.has_query() || url.has_fragment())
        return make_error("must not contain a query (?...) or fragment (#...)");
    const auto path = url.encoded_path();
    if (!path.empty() && path != "/")
        return make_error("must be the host only, e.g. https://api.ibkr.com; the daemon adds /oauth2, /gw and "
                          "/v1/api itself");

    base_url out;
    switch (url.host_type()) {
        case boost::urls::host_type::name:
        case boost::urls::host_type::ipv4:
        case boost::urls::host_type::ipv6:
            out.host = url.host_address();
            break;
        case boost::urls::host_type::none:
        case boost::urls::host_type::ipvfuture:
            break;
    }
    if (out.host.empty()) return make_error("has no host name " + std::string(url_example));
    for (const char c : out.host) {
        if (!is_host_name_char(c) && c != ':') return make_error("has an invalid host name " + std::string(url_example));
    }

    if (url.has_port()) {
        const std::string_view port = url.port();
        unsigned number = 0;
        const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
        if (port.empty() || ec != std::errc() || end != port.data() + port.size() || number < 1 || number > 65535)
            return make_error("port must be between 1 and 65535");
        out.port = static_cast<std::uint16_t>(number);
    }

    out.text = std::string(text);
    if (out.text.ends_with('/')) out.text.pop_back();
    return out;
}

std::string format_seconds(double seconds) {
    // Fixed notation, shortest form that reads back as the same double: 2, 0.5, 86400.
    std::array<char, 400> buffer{};
    const auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), seconds,
                                         std::chars_format::fixed);
    if (ec != std::errc()) return "?";
    return std::string(buffer.data(), end);
}

expected<listen_address> parse_listen_address(std::string_view text) {
    std::string_view host;
    std::string_view port;
    if (text.starts_with('[')) {
        const auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
            return make_error("is not [IPv6]:PORT");
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos || text.find(':') != colon)
            return make_error("is not HOST:PORT (IPv6 as [::1]:PORT)");
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
    }
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || port.empty() || value > 65535)
        return make_error("has no valid port number (0-65535)");
    if (host != "localhost" && !check_ip_literal(host)) return make_error("has a host that is not an IP address or localhost");
    return listen_address{std::string(host), static_cast<std::uint16_t>(value)};
}

std::string to_string(const listen_address& a) {
    std::string out;
    if (a.host.find(':') != std::string::npos)
        out.append("[").append(a.host).append("]");
    else
        out = a.host;
    out.append(":").append(std::to_string(a.port));
    return out;
}

bool is_loopback(const listen_address& a) {
    if (a.host == "localhost" || a.host == "::1") return true;
    unsigned first = 0;
    const auto [end, ec] = std::from_chars(a.host.data(), a.host.data() + a.host.size(), first);
    return ec == std::errc() && end != a.host.data() && *end == '.' && first == 127 && check_ip_literal(a.host);
}

}  // namespace sessiond
