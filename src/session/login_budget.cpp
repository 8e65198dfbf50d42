#include "sessiond/session/login_budget.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>

namespace sessiond {

namespace {

using std::chrono::milliseconds;

constexpr std::string_view header = "sessiond-login-budget 1";
constexpr std::string_view header_prefix = "sessiond-login-budget ";

login_budget_settings sanitized(login_budget_settings s) {
    s.min_spacing = std::max(s.min_spacing, milliseconds(0));
    s.per_hour = std::max(s.per_hour, 1);
    return s;
}

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

login_budget::login_budget(login_budget_settings s) : settings_(sanitized(s)) {}

wall_time login_budget::next_allowed(wall_time now) const {
    if (recent_.empty()) return now;
    // Attempts stamped after `now` (the clock stepped back) count as made just now.
    const auto last = std::min(recent_.back(), now);
    wall_time next = std::max(now, last + settings_.min_spacing);
    const auto limit = static_cast<std::size_t>(settings_.per_hour);
    if (recent_.size() >= limit) {
        // The window is full until the oldest of the newest per_hour attempts leaves it.
        const auto oldest_counted = std::min(recent_[recent_.size() - limit], now);
        next = std::max(next, oldest_counted + window);
    }
    return next;
}

void login_budget::record(wall_time at) {
    advance(at);
    recent_.push_back(at);
    keep_newest();
}

void login_budget::advance(wall_time now) {
    for (auto it = recent_.rbegin(); it != recent_.rend() && *it > now; ++it) *it = now;  // stays sorted
    while (!recent_.empty() && recent_.front() <= now - window) recent_.pop_front();
}

void login_budget::reconfigure(login_budget_settings s) {
    settings_ = sanitized(s);
    keep_newest();
}

void login_budget::keep_newest() {
    while (recent_.size() > static_cast<std::size_t>(settings_.per_hour)) recent_.pop_front();
}

std::string login_budget::serialize() const {
    std::string out(header);
    out += '\n';
    for (const wall_time t : recent_) {
        out += std::to_string(std::chrono::ceil<milliseconds>(t.time_since_epoch()).count());
        out += '\n';
    }
    return out;
}

expected<login_budget> login_budget::restore(std::string_view text, login_budget_settings s, wall_time now) {
    if (text.empty()) return make_error("login budget: empty (expected \"" + std::string(header) + "\" first)");
    login_budget budget(s);
    auto& kept = budget.recent_;
    const auto limit = static_cast<std::size_t>(budget.settings_.per_hour);
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
        if (kept.size() == limit && at <= kept.front()) continue;  // older than every kept one, no room
        kept.insert(std::upper_bound(kept.begin(), kept.end(), at), at);
        budget.keep_newest();
    }
    return budget;
}

}  // namespace sessiond
