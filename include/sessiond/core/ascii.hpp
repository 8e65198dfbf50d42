#pragma once
// ASCII case-insensitive comparison, for everything the daemon compares without regard to case:
// configuration keywords ("Paper", "TRUE"), HTTP tokens (schemes, media types, cookie attributes)
// and URL paths. Pure and locale-free: <cctype> and boost::algorithm's i* functions consult the
// global locale on every character (a facet lookup with a dynamic_cast), which was a tenth of the
// gateway's CPU per forwarded request.

#include <cstddef>
#include <string_view>

namespace sessiond {

constexpr char ascii_lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

constexpr bool equals_ignoring_case(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    return true;
}

constexpr bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) noexcept {
    return text.size() >= prefix.size() && equals_ignoring_case(text.substr(0, prefix.size()), prefix);
}

constexpr bool ends_with_ignoring_case(std::string_view text, std::string_view suffix) noexcept {
    return text.size() >= suffix.size() && equals_ignoring_case(text.substr(text.size() - suffix.size()), suffix);
}

constexpr bool contains_ignoring_case(std::string_view text, std::string_view part) noexcept {
    if (part.size() > text.size()) return false;
    for (std::size_t i = 0; i + part.size() <= text.size(); ++i)
        if (equals_ignoring_case(text.substr(i, part.size()), part)) return true;
    return false;
}

// The media type of a Content-Type value without its parameters: "application/json ; charset=utf-8"
// -> "application/json" (compare it ignoring case).
constexpr std::string_view media_type(std::string_view content_type) noexcept {
    std::string_view type = content_type.substr(0, content_type.find(';'));
    while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
    while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.remove_prefix(1);
    return type;
}

}  // namespace sessiond
