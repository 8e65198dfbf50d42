#include "sessiond/config/state_directory.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace sessiond {

namespace {

constexpr std::string_view app_directory = "ibkr-sessiond";

std::optional<std::string> non_empty(const std::map<std::string, std::string>& environment, const std::string& name) {
    const auto it = environment.find(name);
    if (it == environment.end() || it->second.empty()) return std::nullopt;
    return it->second;
}

std::string system_reason(int err) { return std::error_code(err, std::generic_category()).message(); }

}  // namespace

state_dir_resolution resolve_state_directory(const std::optional<std::filesystem::path>& configured,
                                             const std::map<std::string, std::string>& environment) {
    state_dir_resolution out;
    if (configured) out.candidates.push_back({*configured, "SESSIOND_STATE_DIR"});
    else out.skipped.emplace_back("SESSIOND_STATE_DIR: not set");

    if (const auto v = non_empty(environment, "STATE_DIRECTORY")) {
        // systemd may list several, separated by ':'; the first is ours.
        out.candidates.push_back({v->substr(0, v->find(':')), "$STATE_DIRECTORY, from systemd's StateDirectory="});
    } else {
        out.skipped.emplace_back("STATE_DIRECTORY: not set (systemd sets it with StateDirectory=)");
    }

    // The XDG Base Directory specification: a relative path is invalid and must be ignored.
    if (const auto v = non_empty(environment, "XDG_STATE_HOME"); v && v->front() == '/')
        out.candidates.push_back({std::filesystem::path(*v) / app_directory, "default: $XDG_STATE_HOME/ibkr-sessiond"});
    else out.skipped.emplace_back(v ? "XDG_STATE_HOME: not an absolute path" : "XDG_STATE_HOME: not set");

    if (const auto v = non_empty(environment, "HOME"); v && v->front() == '/')
        out.candidates.push_back(
            {std::filesystem::path(*v) / ".local" / "state" / app_directory, "default: $HOME/.local/state"});
    else out.skipped.emplace_back(v ? "HOME: not an absolute path" : "HOME: not set");
    return out;
}

expected<void> prepare_state_directory(const std::filesystem::path& dir) {
    std::error_code ec;
    const bool created = std::filesystem::create_directories(dir, ec);
    if (ec) return make_error("cannot create " + dir.string() + ": " + ec.message());
    // create_directories() honours the umask; the record is nobody else's business.
    if (created && ::chmod(dir.c_str(), S_IRWXU) != 0)
        return make_error("cannot set mode 0700 on " + dir.string() + ": " + system_reason(errno));
    if (!std::filesystem::is_directory(dir, ec))
        return make_error(dir.string() + " is not a directory" + (ec ? ": " + ec.message() : std::string()));
    if (::access(dir.c_str(), W_OK | X_OK) != 0)
        return make_error(dir.string() + " is not writable: " + system_reason(errno));
    return {};
}

state_dir_choice choose_state_directory(const state_dir_resolution& resolution) {
    state_dir_choice out;
    for (const state_dir_candidate& c : resolution.candidates) {
        const auto ready = prepare_state_directory(c.path);
        if (ready) {
            out.chosen = c;
            return out;
        }
        out.failures.push_back(c.rule + ": " + ready.error().message);
    }
    out.failures.insert(out.failures.begin(), resolution.skipped.begin(), resolution.skipped.end());
    return out;
}

}  // namespace sessiond
