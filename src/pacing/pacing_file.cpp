#include "sessiond/pacing/pacing_file.hpp"

#include <openssl/evp.h>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdint>

namespace sessiond {

namespace {

using std::chrono::milliseconds;

constexpr std::string_view header = "sessiond-pacing 1";
constexpr std::string_view header_prefix = "sessiond-pacing ";

bool all_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

error at_line(std::size_t line, std::string_view what) {
    return make_error("pacing record, line " + std::to_string(line) + ": " + std::string(what));
}

// Why the first line is not the header; never echoes more than a short version number.
error bad_header(std::string_view line) {
    if (line.starts_with(header_prefix)) {
        const auto version = line.substr(header_prefix.size());
        if (all_digits(version) && version.size() <= 9)
            return at_line(1, "unsupported format version " + std::string(version) + " (this build reads version 1)");
        return at_line(1, "malformed format version (expected \"" + std::string(header) + "\")");
    }
    return at_line(1, "not a pacing record (expected \"" + std::string(header) + "\")");
}

std::string unix_ms_rounded_up(wall_time t) {
    return std::to_string(std::chrono::ceil<milliseconds>(t.time_since_epoch()).count());
}

}  // namespace

std::string serialize_pacing(const login_budget& logins, std::optional<wall_time> last_validate) {
    std::string out(header);
    out += '\n';
    for (const wall_time t : logins.recent()) out.append("login ").append(unix_ms_rounded_up(t)).append("\n");
    if (last_validate) out.append("validate ").append(unix_ms_rounded_up(*last_validate)).append("\n");
    return out;
}

expected<persisted_pacing> parse_pacing_record(std::string_view text, login_budget_settings limits, wall_time now) {
    if (text.empty()) return make_error("pacing record: empty (expected \"" + std::string(header) + "\" first)");
    persisted_pacing out{login_budget(limits), std::nullopt};
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
        const auto space = line.find(' ');
        const auto kind = line.substr(0, space);
        if (space == std::string_view::npos || (kind != "login" && kind != "validate"))
            return at_line(line_number, "expected \"login <unix ms>\" or \"validate <unix ms>\"");
        const auto digits = line.substr(space + 1);
        if (!all_digits(digits)) return at_line(line_number, "not a time in unix milliseconds (expected digits only)");
        std::int64_t unix_ms = 0;
        if (std::from_chars(digits.data(), digits.data() + digits.size(), unix_ms).ec != std::errc())
            return at_line(line_number, "time out of range");

        // The safe reading of a time ahead of ours: the clock stepped back, the call was just now.
        const wall_time at = unix_ms > now_ms ? now : wall_time(milliseconds(unix_ms));
        if (kind == "login") {
            out.logins.add_restored(at, now);
        } else {
            if (out.last_validate) return at_line(line_number, "a second validate line");
            out.last_validate = at;
        }
    }
    return out;
}

std::string pacing_file_name(std::string_view credential) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_Digest(credential.data(), credential.size(), digest, &length, EVP_sha256(), nullptr);
    std::string name = "pacing-";
    for (unsigned int i = 0; i < 8 && i < length; ++i) name += fmt::format("{:02x}", digest[i]);
    return name;
}

expected<std::optional<persisted_pacing>> parse_stored_pacing(const expected<std::optional<std::string>>& stored,
                                                              login_budget_settings limits, wall_time now) {
    if (!stored) return stored.error();
    if (!*stored) return std::optional<persisted_pacing>();
    auto parsed = parse_pacing_record(**stored, limits, now);
    if (!parsed) return parsed.error();
    return std::optional<persisted_pacing>(std::move(*parsed));
}

}  // namespace sessiond
