#include "sessiond/log/redact.hpp"

#include "sessiond/core/secret_registry.hpp"

#include <algorithm>
#include <cctype>
#include <utility>
#include <vector>

namespace sessiond {

namespace {

bool is_b64url(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_';
}

// A run of base64url characters starting at i; returns its end.
std::size_t b64_run(std::string_view s, std::size_t i) {
    while (i < s.size() && is_b64url(s[i])) ++i;
    return i;
}

// JWS/JWT compact form: "eyJ" (base64url of '{"') segment '.' segment ['.' segment].
std::size_t jwt_end(std::string_view s, std::size_t i) {
    if (s.substr(i, 3) != "eyJ") return std::string_view::npos;
    std::size_t end = b64_run(s, i);
    if (end >= s.size() || s[end] != '.') return std::string_view::npos;
    end = b64_run(s, end + 1);
    if (end < s.size() && s[end] == '.') end = b64_run(s, end + 1);
    return end;
}

// Finds every occurrence of every live secret before replacing any, so that a secret containing
// (or overlapping) another one is removed whole whatever order the registry lists them in.
// Only positions leave the registry's lock, never the values.
void redact_live_secrets(std::string& text) {
    std::vector<std::pair<std::size_t, std::size_t>> spans;
    find_live_secrets(text, [&](std::size_t start, std::size_t end) { spans.emplace_back(start, end); });
    if (spans.empty()) return;
    std::sort(spans.begin(), spans.end());
    std::string out;
    std::size_t done = 0;
    for (std::size_t i = 0; i < spans.size();) {
        auto [start, end] = spans[i];
        while (++i < spans.size() && spans[i].first < end) end = std::max(end, spans[i].second);
        out.append(text, done, start - done);
        out += redacted_marker;
        done = end;
    }
    out.append(text, done);
    text = std::move(out);
}

void redact_pem_blocks(std::string& text) {
    constexpr std::string_view begin = "-----BEGIN ";
    constexpr std::string_view end = "-----END ";
    for (std::size_t at = text.find(begin); at != std::string::npos; at = text.find(begin, at)) {
        std::size_t stop = text.find(end, at);
        if (stop == std::string::npos) {
            stop = text.size();
        } else {
            const std::size_t close = text.find("-----", stop + end.size());
            stop = close == std::string::npos ? text.size() : close + 5;
        }
        text.replace(at, stop - at, redacted_marker);
        at += redacted_marker.size();
    }
}

void redact_jwts(std::string& text) {
    for (std::size_t i = 0; i < text.size();) {
        const std::size_t end = (i == 0 || !is_b64url(text[i - 1])) ? jwt_end(text, i) : std::string_view::npos;
        if (end == std::string_view::npos) {
            ++i;
            continue;
        }
        text.replace(i, end - i, redacted_marker);
        i += redacted_marker.size();
    }
}

void redact_bearer(std::string& text) {
    constexpr std::string_view bearer = "Bearer ";
    for (std::size_t at = text.find(bearer); at != std::string::npos; at = text.find(bearer, at)) {
        const std::size_t start = at + bearer.size();
        std::size_t stop = start;
        while (stop < text.size() && !std::isspace(static_cast<unsigned char>(text[stop])) && text[stop] != '"' &&
               text[stop] != ',')
            ++stop;
        if (text.compare(start, stop - start, redacted_marker) != 0 && stop > start)
            text.replace(start, stop - start, redacted_marker);
        at = start + redacted_marker.size();
    }
}

}  // namespace

std::string redact(std::string_view input) {
    std::string text(input);
    redact_live_secrets(text);
    redact_pem_blocks(text);
    redact_jwts(text);
    redact_bearer(text);
    return text;
}

bool contains_secret_material(std::string_view text) { return redact(text) != text; }

}  // namespace sessiond
