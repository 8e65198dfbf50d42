#pragma once
// Where the pacing record (login budget, last validate) survives a restart. The first usable of:
//   1. SESSIOND_STATE_DIR (absolute; the loader checks it),
//   2. systemd's $STATE_DIRECTORY (StateDirectory=; the first path before ':'),
//   3. $XDG_STATE_HOME/ibkr-sessiond (only an absolute XDG_STATE_HOME counts),
//   4. $HOME/.local/state/ibkr-sessiond.
// Only when none can be used does the record live in memory, and a restart within IBKR's validate
// minute then earns a 429.
//
// resolve_state_directory() is pure (the environment is a parameter); choose_state_directory()
// creates and checks the candidates.

#include "sessiond/core/error.hpp"

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sessiond {

struct state_dir_candidate {
    std::filesystem::path path;
    std::string rule;  // which rule gave it: "SESSIOND_STATE_DIR", "default: $HOME/.local/state", ...
    friend bool operator==(const state_dir_candidate&, const state_dir_candidate&) = default;
};

struct state_dir_resolution {
    std::vector<state_dir_candidate> candidates;  // in order of preference
    std::vector<std::string> skipped;              // each rule that gave no candidate, and why
};

// The candidates that the environment names. `configured` is SESSIOND_STATE_DIR as loaded (it may
// come from the env file); `environment` holds STATE_DIRECTORY, XDG_STATE_HOME and HOME.
state_dir_resolution resolve_state_directory(const std::optional<std::filesystem::path>& configured,
                                             const std::map<std::string, std::string>& environment);

// Creates `dir` when missing (parents as needed; the directory itself gets mode 0700) and checks
// that this process may create files in it. The error says what failed and why.
expected<void> prepare_state_directory(const std::filesystem::path& dir);

struct state_dir_choice {
    std::optional<state_dir_candidate> chosen;
    // Each candidate tried before the chosen one and why it failed ("SESSIOND_STATE_DIR: cannot
    // create ..."); when nothing was chosen, first the rules that gave no candidate ("HOME: not set").
    std::vector<std::string> failures;
};

// The first candidate that prepare_state_directory() accepts, else every reason.
state_dir_choice choose_state_directory(const state_dir_resolution& resolution);

}  // namespace sessiond
