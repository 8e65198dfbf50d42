#include "sessiond/session/login_budget.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>

namespace sessiond {

namespace {

using std::chrono::milliseconds;

constexpr std::string_view header = "sessiond-login-budget 1";
constexpr std::string_view header_prefix = "sessiond-login-budget ";

bool all_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

error at_line(std::size_t line, std::string_view what) {
    return make_error("login budget, line " + std::to_string(line) + ": " + std::string(what));
}

// Why the first line is not the header; never echoes more than a short version number.
error bad_header(std::string_view line) {
    if (line.starts_with(header_prefix)) {
        const auto version = line.substr(header_prefix.size());
        if (all_digits(version) && version.size() <= 9)
            return at_line(1, "unsupported format version " + std::string(version) + " (this build reads version 1)");
        return at_line(1, "malformed format version (expected \"" + std::string(header) + "\")");
    }
    return at_line(1, "not a login budget file (expected \"" + std::string(header) + "\")");
}

}  // namespace

login_budget::login_budget(login_budget_settings s) : window_(window, s.per_hour, s.min_spacing) {}

void login_budget::reconfigure(login_budget_settings s) { window_.set_limits(s.per_hour, s.min_spacing); }

std::string login_budget::serialize() const {
    std::string out(header);
    out += '\n';
    for (const wall_time t : recent()) {
        out += std::to_string(std::chrono::ceil<milliseconds>(t.time_since_epoch()).count());
        out += '\n';
    }
    return out;
}

expected<login_budget> login_budget::restore(std::string_view text, login_budget_settings s, wall_time now) {
    if (text.empty()) return make_error("login budget: empty (expected \"" + std::string(header) + "\" first)");
    login_budget budget(s);
    const auto now_ms = std::chrono::floor<milliseconds>(now.time_since_epoch()).count();

    std::size_t line_number = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const auto end = text.find('\n', pos);
        const auto line = text.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
        pos = end == std::string_view::npos ? text.size() : end + 1;
        ++line_number;

        if (line_number == 1) {
            if (line != header) return bad_header(line);
            continue;
        }
        if (line.empty()) return at_line(line_number, "empty line");
        if (!all_digits(line)) return at_line(line_number, "not a time in unix milliseconds (expected digits only)");
        std::int64_t unix_ms = 0;
        if (std::from_chars(line.data(), line.data() + line.size(), unix_ms).ec != std::errc())
            return at_line(line_number, "time out of range");

        // The safe reading of a time ahead of ours: the clock stepped back, the attempt was just now.
        const wall_time at = unix_ms > now_ms ? now : wall_time(milliseconds(unix_ms));
        if (at <= now - window) continue;
        budget.window_.insert(at);
    }
    return budget;
}

}  // namespace sessiond
