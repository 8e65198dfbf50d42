#include "sessiond/config/variable_reader.hpp"

#include "sessiond/log/redact.hpp"

#include <algorithm>
#include <array>
#include <cstdio>

namespace sessiond {

namespace {

constexpr std::size_t max_quoted_length = 60;

// A whole number in plain decimal digits ("30"), nothing else.
std::optional<int> parse_count(std::string_view text) {
    if (text.empty() || text.size() > 9) return std::nullopt;
    int n = 0;
    for (const char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + (c - '0');
    }
    return n;
}

}  // namespace

std::string printable(std::string_view text) {
    bool cut = false;
    if (text.size() > max_quoted_length) {
        std::size_t end = max_quoted_length;
        while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
        text = text.substr(0, end);
        cut = true;
    }
    std::string out;
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (u < 0x20 || u == 0x7f) {
            std::array<char, 5> hex{};
            std::snprintf(hex.data(), hex.size(), "\\x%02x", u);
            out += hex.data();
        } else {
            out += c;
        }
    }
    if (cut) out += "...";
    return out;
}

bool has_space_or_control(std::string_view text) noexcept {
    return std::ranges::any_of(text, [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u <= 0x20 || u == 0x7f;
    });
}

std::optional<std::string_view> variable_reader::find(std::string_view name) const {
    if (auto it = values_.values.find(name); it != values_.values.end()) return it->second;
    return std::nullopt;
}

std::optional<std::string_view> variable_reader::required(std::string_view name) {
    const auto value = find(name);
    if (!value) problem(name, "missing");
    else if (value->empty()) problem(name, "is empty");
    if (!value || value->empty()) return std::nullopt;
    return value;
}

std::optional<std::string_view> variable_reader::optional(std::string_view name) const {
    const auto value = find(name);
    if (!value || value->empty()) return std::nullopt;
    return value;
}

std::optional<double> variable_reader::seconds(std::string_view name) {
    const auto v = optional(name);
    if (!v) return std::nullopt;
    const auto parsed = parse_seconds(*v);
    if (!parsed) {
        problem(name, shown(name, *v) + " " + parsed.error().message);
        return std::nullopt;
    }
    return parsed->count();
}

void variable_reader::load_number(const variable_row& row, session_options& o) {
    if (row.seconds != nullptr) {
        const auto v = seconds(row.name);
        if (!v) return;
        if (row.bounds.contains(*v)) o.*row.seconds = seconds_f(*v);
        else problem(row.name, row.bounds.seconds_message());
        return;
    }
    const auto v = optional(row.name);
    if (!v) return;
    const auto n = parse_count(*v);
    if (!n || !row.bounds.contains(*n))
        problem(row.name, shown(row.name, *v) + " is not a whole number from " +
                              std::to_string(static_cast<int>(row.bounds.min)) + " to " +
                              std::to_string(static_cast<int>(row.bounds.max)));
    else o.*row.count = *n;
}

std::optional<bool> variable_reader::boolean(std::string_view name, bool blocks_start) {
    const auto v = optional(name);
    if (!v) return std::nullopt;
    const auto b = parse_bool(*v);
    if (!b) {
        problem(name, shown(name, *v) + " " + b.error().message, blocks_start);
        return std::nullopt;
    }
    return *b;
}

void variable_reader::problem(std::string_view variable, std::string message, bool blocks_start) {
    problems_.push_back({std::string(variable), std::move(message), blocks_start});
}

void variable_reader::warn(std::string text) { warnings_.push_back(std::move(text)); }

std::string variable_reader::shown(std::string_view variable, std::string_view value) const {
    if (is_secret_variable(variable) || looks_secret(value)) return "the value";
    return "\"" + printable(value) + "\"";
}

bool variable_reader::looks_secret(std::string_view value) const {
    if (contains_secret_material(value)) return true;
    // A piece of a PEM key pasted into another field (found by fuzz_credential_request: the redactor
    // wants a whole BEGIN line, a problem quoted the rest).
    if (value.find("PRIVATE KEY") != std::string_view::npos) return true;
    return std::ranges::any_of(values_.secret_values, [&](std::string_view secret_value) {
        if (secret_value.empty()) return false;
        return value.find(secret_value) != std::string_view::npos ||
               (value.size() >= 4 && secret_value.find(value) != std::string_view::npos);
    });
}

}  // namespace sessiond
