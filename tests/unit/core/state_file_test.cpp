#include "sessiond/core/state_file.hpp"

#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

namespace sessiond {
namespace {

using sessiond::testing::temp_dir;
namespace fs = std::filesystem;

std::vector<std::string> names_in(const fs::path& dir) {
    std::vector<std::string> out;
    for (const auto& entry : fs::directory_iterator(dir)) out.push_back(entry.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

std::string read_ok(const fs::path& path, std::size_t max_bytes = 64 * 1024) {
    auto r = read_small_file(path, max_bytes);
    if (!r) {
        ADD_FAILURE() << r.error().message;
        return {};
    }
    if (!*r) {
        ADD_FAILURE() << path << " does not exist";
        return {};
    }
    return **r;
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

// Root ignores permission bits, so tests that rely on them cannot run as root.
bool running_as_root() { return ::geteuid() == 0; }

// Restores the permissions of a directory the test made read-only, so that temp_dir can remove it.
struct writable_again {
    fs::path dir;
    ~writable_again() { fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace); }
};

TEST(state_file, writes_then_reads_back_the_content) {
    const temp_dir dir;
    const auto path = dir.path() / "login-budget";
    ASSERT_TRUE(write_atomically(path, "sessiond-login-budget 1\n123\n"));
    EXPECT_EQ(read_ok(path), "sessiond-login-budget 1\n123\n");
}

TEST(state_file, writes_empty_and_binary_content) {
    const temp_dir dir;
    const auto path = dir.path() / "state";
    ASSERT_TRUE(write_atomically(path, ""));
    EXPECT_EQ(read_ok(path), "");
    const std::string binary("a\0b\xff\n", 5);
    ASSERT_TRUE(write_atomically(path, binary));
    EXPECT_EQ(read_ok(path), binary);
}

TEST(state_file, overwrites_an_existing_file_entirely) {
    const temp_dir dir;
    const auto path = dir.write("state", "a much longer previous content\n");
    ASSERT_TRUE(write_atomically(path, "short\n"));
    EXPECT_EQ(read_ok(path), "short\n");
    ASSERT_TRUE(write_atomically(path, "again\n"));
    EXPECT_EQ(read_ok(path), "again\n");
}

TEST(state_file, leaves_no_temporary_file_behind) {
    const temp_dir dir;
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(write_atomically(dir.path() / "state", std::to_string(i)));
    EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"state"});
}

TEST(state_file, writes_a_large_content_completely) {
    const temp_dir dir;
    const std::string big(3 * 1024 * 1024 + 17, 'x');
    ASSERT_TRUE(write_atomically(dir.path() / "big", big));
    EXPECT_EQ(read_ok(dir.path() / "big", big.size()), big);
}

TEST(state_file, creates_the_file_with_mode_0600_whatever_the_umask) {
    const temp_dir dir;
    const auto path = dir.path() / "state";
    const mode_t previous = ::umask(0);
    const auto written = write_atomically(path, "x");
    ::umask(0277);
    const auto rewritten = write_atomically(dir.path() / "other", "y");
    ::umask(previous);
    ASSERT_TRUE(written) << written.error().message;
    ASSERT_TRUE(rewritten) << rewritten.error().message;
    EXPECT_EQ(fs::status(path).permissions(), fs::perms::owner_read | fs::perms::owner_write);
    EXPECT_EQ(fs::status(dir.path() / "other").permissions(), fs::perms::owner_read | fs::perms::owner_write);
}

TEST(state_file, replacing_a_readable_file_makes_it_0600) {
    const temp_dir dir;
    const auto path = dir.write("state", "old");
    fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read,
                    fs::perm_options::replace);
    ASSERT_TRUE(write_atomically(path, "new"));
    EXPECT_EQ(fs::status(path).permissions(), fs::perms::owner_read | fs::perms::owner_write);
}

TEST(state_file, write_fails_when_the_directory_does_not_exist) {
    const temp_dir dir;
    const auto path = dir.path() / "missing" / "state";
    const auto r = write_atomically(path, "x");
    ASSERT_FALSE(r);
    EXPECT_TRUE(contains(r.error().message, path.string())) << r.error().message;
    EXPECT_TRUE(contains(r.error().message, "No such file or directory")) << r.error().message;
    EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{});
}

TEST(state_file, write_fails_in_a_read_only_directory_and_keeps_the_old_file) {
    if (running_as_root()) GTEST_SKIP() << "root bypasses permission bits";
    const temp_dir dir;
    const auto sub = dir.path() / "state";
    fs::create_directory(sub);
    const auto path = sub / "login-budget";
    ASSERT_TRUE(write_atomically(path, "old"));
    fs::permissions(sub, fs::perms::owner_read | fs::perms::owner_exec, fs::perm_options::replace);
    const writable_again restore{sub};

    const auto r = write_atomically(path, "new");
    ASSERT_FALSE(r);
    EXPECT_TRUE(contains(r.error().message, path.string())) << r.error().message;
    EXPECT_TRUE(contains(r.error().message, "Permission denied")) << r.error().message;
    EXPECT_EQ(read_ok(path), "old");
    EXPECT_EQ(names_in(sub), std::vector<std::string>{"login-budget"});
}

TEST(state_file, write_over_a_directory_fails_and_removes_its_temporary_file) {
    const temp_dir dir;
    fs::create_directory(dir.path() / "taken");
    const auto r = write_atomically(dir.path() / "taken", "x");
    ASSERT_FALSE(r);
    EXPECT_TRUE(contains(r.error().message, (dir.path() / "taken").string())) << r.error().message;
    EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"taken"});
}

TEST(state_file, leftover_temporaries_of_a_killed_writer_are_removed_and_nothing_else) {
    const temp_dir dir;
    const fs::path path = dir.path() / "login-budget-0123";
    ASSERT_TRUE(write_atomically(path, "kept\n"));
    dir.write(".login-budget-0123.tmp-4242-0", "half writ");
    dir.write(".login-budget-0123.tmp-4243-7", "");
    dir.write(".login-budget-9999.tmp-4242-0", "another user's");
    dir.write("notes", "unrelated");
    EXPECT_EQ(remove_leftover_temporaries(path), 2u);
    EXPECT_EQ(names_in(dir.path()), (std::vector<std::string>{".login-budget-9999.tmp-4242-0", "login-budget-0123", "notes"}));
    EXPECT_EQ(read_ok(path), "kept\n");
    EXPECT_EQ(remove_leftover_temporaries(dir.path() / "missing-dir" / "x"), 0u);
}

TEST(state_file, read_of_a_missing_file_is_nullopt) {
    const temp_dir dir;
    for (const auto& path : {dir.path() / "missing", dir.path() / "no-dir" / "missing"}) {
        const auto r = read_small_file(path);
        ASSERT_TRUE(r) << r.error().message;
        EXPECT_FALSE(r->has_value());
    }
}

TEST(state_file, read_refuses_a_file_larger_than_the_limit) {
    const temp_dir dir;
    const auto path = dir.write("state", std::string(11, 'x'));
    const auto r = read_small_file(path, 10);
    ASSERT_FALSE(r);
    EXPECT_TRUE(contains(r.error().message, path.string())) << r.error().message;
    EXPECT_TRUE(contains(r.error().message, "larger than 10 bytes")) << r.error().message;
    EXPECT_EQ(read_ok(path, 11), std::string(11, 'x')) << "exactly the limit is fine";
}

TEST(state_file, read_refuses_a_file_beyond_the_default_limit) {
    const temp_dir dir;
    const auto path = dir.write("state", std::string(64 * 1024 + 1, 'x'));
    EXPECT_FALSE(read_small_file(path));
    ASSERT_TRUE(write_atomically(path, std::string(64 * 1024, 'x')));
    EXPECT_EQ(read_ok(path).size(), 64u * 1024);
}

TEST(state_file, read_refuses_what_is_not_a_regular_file) {
    const temp_dir dir;
    const auto r = read_small_file(dir.path());
    ASSERT_FALSE(r);
    EXPECT_TRUE(contains(r.error().message, "not a regular file")) << r.error().message;

    const auto fifo = dir.path() / "fifo";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    const auto from_fifo = read_small_file(fifo);  // must not wait for a writer
    ASSERT_FALSE(from_fifo);
    EXPECT_TRUE(contains(from_fifo.error().message, "not a regular file")) << from_fifo.error().message;
}

TEST(state_file, read_reports_an_unreadable_file) {
    if (running_as_root()) GTEST_SKIP() << "root bypasses permission bits";
    const temp_dir dir;
    const auto path = dir.write("state", "x");
    fs::permissions(path, fs::perms::none, fs::perm_options::replace);
    const auto r = read_small_file(path);
    ASSERT_FALSE(r);
    EXPECT_TRUE(contains(r.error().message, path.string())) << r.error().message;
    EXPECT_TRUE(contains(r.error().message, "Permission denied")) << r.error().message;
}

}  // namespace
}  // namespace sessiond
