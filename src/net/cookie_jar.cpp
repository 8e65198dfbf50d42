#include "sessiond/net/cookie_jar.hpp"

#include "sessiond/core/ascii.hpp"

#include <boost/beast/http/field.hpp>

#include <algorithm>

namespace sessiond {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// Max-Age=<n> with n <= 0 deletes the cookie (RFC 6265 5.2.2).
bool has_expired(std::string_view line) {
    for (std::size_t at = line.find(';'); at != std::string_view::npos; at = line.find(';', at + 1)) {
        std::string_view attribute = trim(line.substr(at + 1, line.find(';', at + 1) - at - 1));
        if (attribute.size() < 8 || !equals_ignoring_case(attribute.substr(0, 8), "max-age=")) continue;
        attribute.remove_prefix(8);
        if (attribute.starts_with('-')) return true;
        return !attribute.empty() && attribute.find_first_not_of('0') == std::string_view::npos;
    }
    return false;
}

}  // namespace

void cookie_jar::store(const boost::beast::http::response<boost::beast::http::string_body>& res) {
    const auto [first, last] = res.equal_range(boost::beast::http::field::set_cookie);
    for (auto it = first; it != last; ++it) put(it->value());
}

void cookie_jar::put(std::string_view line) {
    if (line.size() > max_cookie_size) return;
    const std::string_view pair = line.substr(0, line.find(';'));
    const auto eq = pair.find('=');
    if (eq == std::string_view::npos) return;
    const std::string_view name = trim(pair.substr(0, eq));
    const std::string_view value = trim(pair.substr(eq + 1));
    if (name.empty()) return;
    const bool expired = has_expired(line);
    auto it = std::find_if(cookies_.begin(), cookies_.end(), [&](const cookie& c) { return c.name == name; });
    if (value.empty() || expired) {
        if (it != cookies_.end()) cookies_.erase(it);
        return;
    }
    if (it != cookies_.end()) {
        it->value = secret(value);
    } else if (cookies_.size() < max_cookies) {
        cookies_.push_back(cookie{std::string(name), secret(value)});
    }
}

secret cookie_jar::header() const {
    std::string out;
    for (const auto& c : cookies_) {
        if (!out.empty()) out += "; ";
        out += c.name;
        out += '=';
        out += c.value.reveal();
    }
    return secret(std::move(out));
}

}  // namespace sessiond
