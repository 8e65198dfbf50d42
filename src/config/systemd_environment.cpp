#include "sessiond/config/systemd_environment.hpp"

#include "sessiond/config/env_file.hpp"
#include "sessiond/core/secret.hpp"
#include "sessiond/core/state_file.hpp"

#include <map>
#include <system_error>

extern char** environ;

namespace sessiond {

namespace {

// Whether an environment value is what systemd's EnvironmentFile= made of a line whose value this
// daemon reads as `parsed`: the same, or (systemd knows comments only at the start of a line) the
// same followed by blanks and an inline "# comment".
bool is_systemd_copy(std::string_view environment_value, std::string_view parsed) {
    if (environment_value == parsed) return true;
    if (!environment_value.starts_with(parsed)) return false;
    std::string_view rest = environment_value.substr(parsed.size());
    const auto blanks = rest.find_first_not_of(" \t");
    return blanks != 0 && blanks != std::string_view::npos && rest[blanks] == '#';
}

}  // namespace

config_sources sources_from_process(std::optional<std::filesystem::path> env_file) {
    config_sources out;
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
        const std::string_view text(*entry);
        const auto eq = text.find('=');
        if (eq == std::string_view::npos) continue;
        // emplace keeps the first of duplicate names, as getenv() does.
        out.environment.emplace(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
    }
    if (auto it = out.environment.find("CREDENTIALS_DIRECTORY"); it != out.environment.end() && !it->second.empty())
        out.credentials_directory = it->second;
    out.env_file = std::move(env_file);
    return out;
}

std::optional<std::filesystem::path> find_credential(const std::optional<std::filesystem::path>& directory,
                                                     std::string_view name) {
    if (!directory) return std::nullopt;
    auto path = *directory / name;
    std::error_code ec;
    if (!std::filesystem::exists(path, ec) && !ec) return std::nullopt;
    // "\n" or "\r\n" at most; anything longer, or unreadable, is the caller's to read and judge.
    constexpr std::size_t blank_at_most = 2;
    if (const auto size = std::filesystem::file_size(path, ec); !ec && size <= blank_at_most) {
        if (const auto file = read_private_file(path, blank_at_most);
            file && file->content.reveal().find_first_not_of("\r\n") == std::string_view::npos)
            return std::nullopt;
    }
    return path;
}

std::set<std::string> environment_copied_from_env_file(const config_sources& sources) {
    std::set<std::string> out;
    if (!sources.env_file) return out;
    const auto file = read_private_file(*sources.env_file, max_config_file_size);
    if (!file) return out;
    const auto entries = parse_env_file(file->content.reveal());
    if (!entries) return out;
    std::map<std::string_view, std::string_view> values;  // the later line wins, as in the loader
    for (const env_entry& e : entries->items) values[e.name] = e.value;
    for (const auto& [name, value] : values) {
        const auto it = sources.environment.find(std::string(name));
        if (it != sources.environment.end() && is_systemd_copy(it->second, value)) out.emplace(name);
    }
    return out;
}

void forget_environment(config_sources& sources, const std::set<std::string>& names) {
    for (const auto& name : names) {
        if (auto it = sources.environment.find(name); it != sources.environment.end()) {
            wipe(it->second);
            sources.environment.erase(it);
        }
    }
}

}  // namespace sessiond
