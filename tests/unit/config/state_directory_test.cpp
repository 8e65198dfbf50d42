// Where the pacing record survives a restart: the order of the rules (pure), and the directory
// created and checked (in a test's own directory, never the real HOME).

#include "sessiond/config/state_directory.hpp"

#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>

namespace sessiond {
namespace {

namespace fs = std::filesystem;
using testing::temp_dir;
using environment = std::map<std::string, std::string>;
using candidates = std::vector<state_dir_candidate>;
using strings = std::vector<std::string>;

const state_dir_candidate from_systemd{"/var/lib/ibkr-sessiond", "$STATE_DIRECTORY, from systemd's StateDirectory="};
const state_dir_candidate from_xdg{"/home/op/state/ibkr-sessiond", "default: $XDG_STATE_HOME/ibkr-sessiond"};
const state_dir_candidate from_home{"/home/op/.local/state/ibkr-sessiond", "default: $HOME/.local/state"};

const environment every_source{{"STATE_DIRECTORY", "/var/lib/ibkr-sessiond:/var/lib/other"},
                               {"XDG_STATE_HOME", "/home/op/state"},
                               {"HOME", "/home/op"}};

TEST(state_directory, sessiond_state_dir_comes_first_then_systemd_then_xdg_then_home) {
    const auto r = resolve_state_directory(fs::path("/srv/sessiond"), every_source);
    EXPECT_EQ(r.candidates, (candidates{{"/srv/sessiond", "SESSIOND_STATE_DIR"}, from_systemd, from_xdg, from_home}));
    EXPECT_TRUE(r.skipped.empty());
}

TEST(state_directory, without_sessiond_state_dir_systemds_first_path_comes_first) {
    const auto r = resolve_state_directory(std::nullopt, every_source);
    EXPECT_EQ(r.candidates, (candidates{from_systemd, from_xdg, from_home}));
    EXPECT_EQ(r.skipped, strings{"SESSIOND_STATE_DIR: not set"});
}

TEST(state_directory, by_hand_the_defaults_are_xdg_state_home_then_home) {
    EXPECT_EQ(resolve_state_directory(std::nullopt, {{"XDG_STATE_HOME", "/home/op/state"}, {"HOME", "/home/op"}}).candidates,
              (candidates{from_xdg, from_home}));
    EXPECT_EQ(resolve_state_directory(std::nullopt, {{"HOME", "/home/op"}}).candidates, candidates{from_home});
}

TEST(state_directory, a_relative_or_empty_xdg_state_home_does_not_count) {
    for (const char* value : {"state", "", "./state"}) {
        SCOPED_TRACE(value);
        const auto r = resolve_state_directory(std::nullopt, {{"XDG_STATE_HOME", value}, {"HOME", "/home/op"}});
        EXPECT_EQ(r.candidates, candidates{from_home});
    }
    EXPECT_EQ(resolve_state_directory(std::nullopt, {{"XDG_STATE_HOME", "state"}}).skipped,
              (strings{"SESSIOND_STATE_DIR: not set", "STATE_DIRECTORY: not set (systemd sets it with StateDirectory=)",
                       "XDG_STATE_HOME: not an absolute path", "HOME: not set"}));
}

TEST(state_directory, nothing_set_gives_no_candidate_and_every_reason) {
    const auto r = resolve_state_directory(std::nullopt, {{"HOME", ""}});
    EXPECT_TRUE(r.candidates.empty());
    EXPECT_EQ(r.skipped, (strings{"SESSIOND_STATE_DIR: not set",
                                  "STATE_DIRECTORY: not set (systemd sets it with StateDirectory=)",
                                  "XDG_STATE_HOME: not set", "HOME: not set"}));
}

TEST(state_directory, prepare_creates_missing_parents_and_gives_the_directory_mode_0700) {
    const temp_dir dir;
    const fs::path state = dir.path() / "home" / ".local" / "state" / "ibkr-sessiond";
    ASSERT_TRUE(prepare_state_directory(state));
    struct stat st {};
    ASSERT_EQ(::stat(state.c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0700u);
    EXPECT_TRUE(prepare_state_directory(state)) << "an existing directory is used as it is";
}

TEST(state_directory, prepare_names_the_path_and_the_reason_when_it_cannot_create_it) {
    const temp_dir dir;
    const fs::path file = dir.write("a-file", "x");
    const auto r = prepare_state_directory(file / "state");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message.find("cannot create " + (file / "state").string() + ": "), 0u) << r.error().message;
    const auto not_dir = prepare_state_directory(file);
    ASSERT_FALSE(not_dir);
    EXPECT_NE(not_dir.error().message.find(file.string()), std::string::npos) << not_dir.error().message;
}

TEST(state_directory, choose_takes_the_first_usable_candidate_and_keeps_why_earlier_ones_failed) {
    const temp_dir dir;
    const fs::path file = dir.write("a-file", "x");
    const state_dir_resolution r{{{file / "state", "SESSIOND_STATE_DIR"}, {dir.path() / "home-state", "default: $HOME/.local/state"}},
                                 {}};
    const auto choice = choose_state_directory(r);
    ASSERT_TRUE(choice.chosen);
    EXPECT_EQ(choice.chosen->path, dir.path() / "home-state");
    ASSERT_EQ(choice.failures.size(), 1u);
    EXPECT_EQ(choice.failures.front().find("SESSIOND_STATE_DIR: cannot create"), 0u) << choice.failures.front();
}

TEST(state_directory, choose_without_a_usable_candidate_lists_every_rule_and_failure) {
    const temp_dir dir;
    const fs::path file = dir.write("a-file", "x");
    const auto r = resolve_state_directory(std::nullopt, {{"HOME", file.string()}});
    const auto choice = choose_state_directory(r);
    EXPECT_FALSE(choice.chosen);
    ASSERT_EQ(choice.failures.size(), 4u);
    EXPECT_EQ(choice.failures[2], "XDG_STATE_HOME: not set");
    EXPECT_EQ(choice.failures[3].find("default: $HOME/.local/state: cannot create " + file.string()), 0u)
        << choice.failures[3];
}

}  // namespace
}  // namespace sessiond
