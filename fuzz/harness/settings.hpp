#pragma once
// The settings loader over an env file. load_settings reads the file itself, so each input is written
// to one file per process and loaded from there. The file may name other files (IBKR_PRIVATE_KEY_FILE,
// IBKR_CA_FILE): the environment sets both empty, which wins over the file, so that an input cannot make
// the harness read /dev/zero or a FIFO. Checked: the loader never throws, check-config's report is one
// item per line free of control bytes, and no secret value (IBKR_PRIVATE_KEY, IBKR_CREDENTIAL,
// SESSIOND_API_TOKEN), nor any line of one, comes out in it. That last check cannot tell a secret that
// happens to repeat the report's own wording from a leak; the search is kept from the fuzzer (see
// contains_quietly) so that it does not learn that wording and write it into a secret.

#include "check.hpp"

#include "sessiond/config/env_file.hpp"
#include "sessiond/config/settings.hpp"
#include "sessiond/config/variable_schema.hpp"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace sessiond::fuzz {

// One file per process, removed when the process ends (it may hold a generated key).
inline const std::filesystem::path& settings_env_file_path() {
    static const struct owned_file {
        std::filesystem::path path =
            std::filesystem::temp_directory_path() / ("sessiond-fuzz-settings-" + std::to_string(::getpid()) + ".env");
        ~owned_file() {
            std::error_code ec;
            std::filesystem::remove(path, ec);
        }
    } file;
    return file.path;
}

inline bool write_whole_file(const std::filesystem::path& path, std::string_view text) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) return false;
    const bool written = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    return std::fclose(f) == 0 && written;
}

// The lines of a secret value (real or "\n"-escaped, as in a PEM pasted into one line) long enough not
// to occur by chance, but for PEM armour lines ("-----BEGIN ...-----"), which hold nothing secret.
inline std::vector<std::string_view> secret_lines(std::string_view value) {
    constexpr std::size_t min_line = 20;
    std::vector<std::string_view> out;
    std::size_t start = 0;
    while (start < value.size()) {
        std::size_t end = value.find('\n', start);
        const std::size_t escaped = value.find("\\n", start);
        std::size_t next = end == std::string_view::npos ? value.size() : end + 1;
        if (escaped < end) {
            end = escaped;
            next = escaped + 2;
        }
        if (end == std::string_view::npos) end = value.size();
        std::string_view line = value.substr(start, end - start);
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
        if (line.size() >= min_line && !line.starts_with("-----")) out.push_back(line);
        start = next;
    }
    return out;
}

inline std::string settings_env(std::string_view input) {
    const std::filesystem::path& path = settings_env_file_path();
    if (!write_whole_file(path, input)) return "cannot write " + path.string();
    config_sources sources;
    sources.env_file = path;
    sources.environment["IBKR_PRIVATE_KEY_FILE"] = "";
    sources.environment["IBKR_CA_FILE"] = "";
    const config_report report = load_settings(sources);
    const std::string text = format_config_report(report);

    if (report.ok() == text.starts_with("configuration has ")) return "report does not say whether it is OK";
    if (text.empty() || text.back() != '\n') return "report does not end with a line break";
    // Values are quoted as UTF-8 (printable() cuts them on a character boundary): only control bytes are out.
    for (const char c : text)
        if (c != '\n' && (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)) return "report holds a control byte";

    // Names are not secret and are quoted in warnings, and an OK report shows the account, base URL and
    // listen address as configured or by default: a secret that is also (part of) one of those, or of the
    // file's path, may appear through them. A whole secret inside another variable's value must not
    // (the loader then says "the value"); one line of a secret there is the other variable's text.
    const auto parsed = parse_env_file(input);
    if (!parsed) return {};
    const settings defaults;
    std::string shown = path.string() + "\n" + defaults.options.endpoint.text + "\n" + to_string(defaults.service.listen);
    std::string elsewhere;
    for (const env_entry& e : parsed->items) {
        shown += "\n" + e.name;
        if (report.ok() && (e.name == "IBKR_ACCOUNT_ID" || e.name == "IBKR_BASE_URL" || e.name == "SESSIOND_LISTEN"))
            shown += "\n" + e.value;
        if (!is_secret_variable(e.name)) elsewhere += "\n" + e.value;
    }
    for (const env_entry& e : parsed->items) {
        if (!is_secret_variable(e.name)) continue;
        const std::string_view value = e.value;
        if (value.size() >= 8 && !contains_quietly(shown, value) && contains_quietly(text, value))
            return "report shows the value of " + e.name;
        for (const std::string_view line : secret_lines(value)) {
            if (contains_quietly(shown, line) || contains_quietly(elsewhere, line)) continue;
            if (contains_quietly(text, line)) return "report shows a line of the value of " + e.name;
        }
    }
    return {};
}

}  // namespace sessiond::fuzz
