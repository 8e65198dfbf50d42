#pragma once
// The env file parser (--env-file, SIGHUP): any text either parses into well-formed entries or fails
// with a one-line message naming the line; what parsed survives being written back as double-quoted
// values and parsed again.

#include "check.hpp"

#include "sessiond/config/env_file.hpp"

#include <cctype>
#include <string>
#include <string_view>

namespace sessiond::fuzz {

inline bool is_env_name(std::string_view name) {
    if (name.empty() || (std::isalpha(static_cast<unsigned char>(name[0])) == 0 && name[0] != '_')) return false;
    for (const char c : name)
        if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '_') return false;
    return true;
}

// One entry as the parser's double-quoted form writes it: every byte it treats specially escaped.
inline std::string env_line(const env_entry& e) {
    std::string out = e.name + "=\"";
    for (const char c : e.value) {
        switch (c) {
            case '\\': out += "\\\\"; break;
            case '"': out += "\\\""; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            default: out += c;
        }
    }
    return out + "\"\n";
}

inline std::string env_file(std::string_view input) {
    const auto parsed = parse_env_file(input);
    if (!parsed) {
        const std::string& message = parsed.error().message;
        if (!message.starts_with("line ")) return "error does not name the line: " + message;
        if (message.find_first_of("\r\n") != std::string::npos) return "error spans lines";
        return {};
    }
    std::string again;
    int previous_line = 0;
    for (const env_entry& e : parsed->items) {
        if (!is_env_name(e.name)) return "entry name is not [A-Za-z_][A-Za-z0-9_]*: " + e.name;
        if (e.line < 1 || e.line < previous_line) return "entry lines are not increasing from 1";
        previous_line = e.line;
        again += env_line(e);
    }
    const auto reparsed = parse_env_file(again);
    if (!reparsed) return "entries written back do not parse: " + reparsed.error().message;
    if (reparsed->items.size() != parsed->items.size()) return "entries written back parse to another count";
    for (std::size_t i = 0; i < parsed->items.size(); ++i) {
        const env_entry& a = parsed->items[i];
        const env_entry& b = reparsed->items[i];
        if (a.name != b.name || a.value != b.value) return "entry " + a.name + " changed when written back";
        if (b.line != static_cast<int>(i) + 1) return "entries written back one per line have other line numbers";
    }
    return {};
}

}  // namespace sessiond::fuzz
