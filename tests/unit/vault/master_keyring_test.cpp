// Loading the master keys from real files: the systemd credentials directory, a key file, a key
// directory; what each refusal says (the path, the fault, the command that fixes it) and that no
// refusal ever shows a key.

#include "sessiond/vault/master_keyring.hpp"

#include "support/temp_dir.hpp"
#include "vault_test_keys.hpp"

#include <gtest/gtest.h>

#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <string>

namespace sessiond {
namespace {

namespace fs = std::filesystem;
using vault_testing::random_bytes;

class vault_master_keyring : public ::testing::Test {
protected:
    // A key file with the given mode; the key is remembered for the no-key-material check.
    fs::path key_file(std::string_view name, std::size_t size = master_key_size, fs::perms mode = fs::perms::owner_read) {
        const std::string key = random_bytes(size);
        written_.push_back(key);
        const fs::path path = dir_.write(name, key);
        fs::permissions(path, mode, fs::perm_options::replace);
        return path;
    }

    expected<master_keyring> load(std::optional<fs::path> credentials, std::optional<fs::path> key_file) {
        keyring_environment env;
        if (credentials) env.credentials_directory = credentials->string();
        if (key_file) env.master_key_file = key_file->string();
        auto keyring = load_master_keyring_from_environment(env);
        if (!keyring) vault_testing::expect_no_key_material(keyring.error().message, written_);
        return keyring;
    }

    std::string key_of(const master_keyring& keyring, std::uint32_t version) {
        const secret* key = keyring.key(version);
        return key ? std::string(key->reveal()) : std::string();
    }

    testing::temp_dir dir_;
    std::vector<std::string> written_;
};

TEST_F(vault_master_keyring, a_0400_key_file_is_version_1) {
    const fs::path path = key_file("master-key");
    const auto keyring = load(std::nullopt, path);
    ASSERT_TRUE(keyring) << keyring.error().message;
    EXPECT_EQ(keyring->versions(), std::vector<std::uint32_t>{1});
    EXPECT_EQ(keyring->current_version(), 1u);
    EXPECT_EQ(key_of(*keyring, 1), written_.back());
}

TEST_F(vault_master_keyring, a_group_or_world_readable_or_writable_key_file_is_refused_with_the_chmod_to_run) {
    using p = fs::perms;
    for (const fs::perms mode : {p::owner_read | p::owner_write, p::owner_read | p::group_read,
                                 p::owner_read | p::others_read, p::owner_read | p::owner_exec}) {
        const fs::path path = key_file("master-key", master_key_size, mode);
        const auto keyring = load(std::nullopt, path);
        ASSERT_FALSE(keyring);
        const std::string& message = keyring.error().message;
        EXPECT_NE(message.find(path.string()), std::string::npos) << message;
        EXPECT_NE(message.find("chmod 0400 " + path.string()), std::string::npos) << message;
        fs::remove(path);
    }
    const fs::path path = key_file("master-key", master_key_size, p::owner_read | p::owner_write);
    EXPECT_NE(load(std::nullopt, path).error().message.find("has mode 0600"), std::string::npos);
    fs::remove(path);
    const fs::path shared = key_file("master-key", master_key_size, p::owner_read | p::group_read);
    EXPECT_NE(load(std::nullopt, shared).error().message.find("has mode 0440"), std::string::npos);
}

TEST_F(vault_master_keyring, a_key_file_of_31_or_33_bytes_is_refused_by_its_size) {
    for (const std::size_t size : {31u, 33u, 0u}) {
        const fs::path path = key_file("master-key", size);
        const auto keyring = load(std::nullopt, path);
        ASSERT_FALSE(keyring) << size;
        EXPECT_EQ(keyring.error().message, "master key file " + path.string() + " is " + std::to_string(size) +
                                               " bytes: a master key is exactly 32 raw bytes");
        fs::remove(path);
    }
}

TEST_F(vault_master_keyring, a_hex_encoded_key_is_told_to_be_stored_raw) {
    const fs::path path = key_file("master-key", 65);
    const auto keyring = load(std::nullopt, path);
    ASSERT_FALSE(keyring);
    EXPECT_NE(keyring.error().message.find("store the raw bytes"), std::string::npos) << keyring.error().message;
}

TEST_F(vault_master_keyring, a_directory_of_versions_loads_each_and_the_highest_is_current) {
    key_file("keys/1");
    key_file("keys/2");
    key_file("keys/10");
    const auto keyring = load(std::nullopt, dir_.path() / "keys");
    ASSERT_TRUE(keyring) << keyring.error().message;
    EXPECT_EQ(keyring->versions(), (std::vector<std::uint32_t>{1, 2, 10}));
    EXPECT_EQ(keyring->current_version(), 10u);
    EXPECT_EQ(key_of(*keyring, 1), written_[0]);
    EXPECT_EQ(key_of(*keyring, 2), written_[1]);
    EXPECT_EQ(key_of(*keyring, 10), written_[2]);
    EXPECT_EQ(keyring->key(3), nullptr);
}

TEST_F(vault_master_keyring, a_file_of_the_key_directory_not_named_by_a_number_is_refused) {
    key_file("keys/1");
    for (const std::string_view name : {"v2", "0", "-3", "2 ", "4294967296", "master-key"}) {
        const fs::path path = key_file("keys/" + std::string(name));
        const auto keyring = load(std::nullopt, dir_.path() / "keys");
        ASSERT_FALSE(keyring) << name;
        EXPECT_NE(keyring.error().message.find(path.string()), std::string::npos) << keyring.error().message;
        EXPECT_NE(keyring.error().message.find("named by its version"), std::string::npos) << keyring.error().message;
        fs::remove(path);
    }
}

TEST_F(vault_master_keyring, two_files_of_one_version_are_refused) {
    key_file("keys/2");
    key_file("keys/02");
    const auto keyring = load(std::nullopt, dir_.path() / "keys");
    ASSERT_FALSE(keyring);
    EXPECT_NE(keyring.error().message.find("both give version 2"), std::string::npos) << keyring.error().message;
}

TEST_F(vault_master_keyring, credentials_are_named_as_systemd_names_them_and_others_beside_them_are_ignored) {
    key_file("credentials/sessiond-master-key");
    key_file("credentials/sessiond-master-key_2");
    key_file("credentials/sessiond-master-key_7");
    dir_.write("credentials/ibkr-private-key", "not a master key, any size, any mode");
    const auto keyring = load(dir_.path() / "credentials", std::nullopt);
    ASSERT_TRUE(keyring) << keyring.error().message;
    EXPECT_EQ(keyring->versions(), (std::vector<std::uint32_t>{1, 2, 7}));
    EXPECT_EQ(keyring->current_version(), 7u);
    EXPECT_EQ(key_of(*keyring, 2), written_[1]);
}

TEST_F(vault_master_keyring, credentials_come_before_the_key_file) {
    key_file("credentials/sessiond-master-key_3");
    const fs::path file = key_file("master-key");
    const auto keyring = load(dir_.path() / "credentials", file);
    ASSERT_TRUE(keyring) << keyring.error().message;
    EXPECT_EQ(keyring->versions(), std::vector<std::uint32_t>{3});
}

TEST_F(vault_master_keyring, a_credentials_directory_without_a_master_key_falls_back_to_the_key_file) {
    dir_.write("credentials/ibkr-private-key", "another credential");
    const fs::path file = key_file("master-key");
    const auto keyring = load(dir_.path() / "credentials", file);
    ASSERT_TRUE(keyring) << keyring.error().message;
    EXPECT_EQ(key_of(*keyring, 1), written_.back());
}

TEST_F(vault_master_keyring, a_credential_whose_version_suffix_is_not_a_number_is_refused) {
    const fs::path path = key_file("credentials/sessiond-master-key_new");
    const auto keyring = load(dir_.path() / "credentials", std::nullopt);
    ASSERT_FALSE(keyring);
    EXPECT_NE(keyring.error().message.find(path.string()), std::string::npos) << keyring.error().message;
    EXPECT_NE(keyring.error().message.find("must be the key's version"), std::string::npos) << keyring.error().message;
}

TEST_F(vault_master_keyring, the_mode_rule_applies_to_credentials_too) {
    const fs::path path = key_file("credentials/sessiond-master-key", master_key_size,
                                   fs::perms::owner_read | fs::perms::group_read);
    const auto keyring = load(dir_.path() / "credentials", std::nullopt);
    ASSERT_FALSE(keyring);
    EXPECT_NE(keyring.error().message.find("chmod 0400 " + path.string()), std::string::npos) << keyring.error().message;
}

// What systemd does for a service that does not run as root: 0400, plus read access for the
// service's user by an ACL entry; stat() then shows the ACL's mask as group bits (0440).
std::string acl_xattr(std::initializer_list<std::array<std::uint32_t, 3>> entries) {
    std::string out;
    const auto le = [&](std::uint32_t v, int width) {
        for (int i = 0; i < width; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
    };
    le(2, 4);
    for (const auto& [tag, perm, id] : entries) {
        le(tag, 2);
        le(perm, 2);
        le(id, 4);
    }
    return out;
}

constexpr std::uint32_t no_id = 0xffffffff;

bool set_acl(const fs::path& path, const std::string& xattr) {
    return ::setxattr(path.c_str(), "system.posix_acl_access", xattr.data(), xattr.size(), 0) == 0;
}

TEST_F(vault_master_keyring, a_systemd_credential_readable_by_the_daemons_user_through_an_acl_loads) {
    const fs::path path = key_file("credentials/sessiond-master-key");
    const std::uint32_t me = ::geteuid();
    if (!set_acl(path, acl_xattr({{0x01, 4, no_id}, {0x02, 4, me}, {0x04, 0, no_id}, {0x10, 4, no_id}, {0x20, 0, no_id}})))
        GTEST_SKIP() << "the temporary directory's filesystem has no ACLs";
    ASSERT_EQ(fs::status(path).permissions() & fs::perms::group_read, fs::perms::group_read);  // the mask shows
    const auto keyring = load(dir_.path() / "credentials", std::nullopt);
    ASSERT_TRUE(keyring) << keyring.error().message;
    EXPECT_EQ(key_of(*keyring, 1), written_.back());
}

TEST_F(vault_master_keyring, an_acl_that_lets_another_user_or_a_group_read_is_refused) {
    const std::uint32_t me = ::geteuid();
    for (const std::string& acl :
         {acl_xattr({{0x01, 4, no_id}, {0x02, 4, me + 1}, {0x04, 0, no_id}, {0x10, 4, no_id}, {0x20, 0, no_id}}),
          acl_xattr({{0x01, 4, no_id}, {0x04, 4, no_id}, {0x10, 4, no_id}, {0x20, 0, no_id}}),
          acl_xattr({{0x01, 4, no_id}, {0x04, 0, no_id}, {0x08, 4, 100}, {0x10, 4, no_id}, {0x20, 0, no_id}}),
          acl_xattr({{0x01, 4, no_id}, {0x02, 6, me}, {0x04, 0, no_id}, {0x10, 6, no_id}, {0x20, 0, no_id}})}) {
        const fs::path path = key_file("master-key");
        if (!set_acl(path, acl)) GTEST_SKIP() << "the temporary directory's filesystem has no ACLs";
        const auto keyring = load(std::nullopt, path);
        ASSERT_FALSE(keyring);
        EXPECT_EQ(keyring.error().message, "master key file " + path.string() +
                                               " has an ACL that lets others than the daemon's user read or write it "
                                               "(run: setfacl -b " + path.string() + "; chmod 0400 " + path.string() + ")");
        fs::remove(path);
    }
}

// Root's key in the daemon's own group, readable by the two (0440): what Kubernetes makes of a
// Secret for a pod with fsGroup. Any other owner, group, reader or bit is refused, as before.
TEST_F(vault_master_keyring, a_root_owned_key_readable_by_the_daemons_group_alone_loads) {
    constexpr std::uint32_t daemon = 65532;
    const auto source_with = [&](unsigned mode, std::uint32_t owner, std::uint32_t group, std::uint32_t reader_gid) {
        key_file_entry file{"/run/secrets/sessiond-master-key", key_file_type::regular, mode, 32, {}, owner, group};
        return key_source{key_source_kind::credentials_directory, "/run/secrets", {file}, daemon, reader_gid};
    };
    const auto reader = [&](const fs::path&) -> expected<secret> { return secret(random_bytes(master_key_size)); };
    EXPECT_TRUE(load_master_keyring(source_with(0440, 0, daemon, daemon), reader));
    EXPECT_TRUE(load_master_keyring(source_with(0040, 0, daemon, daemon), reader));

    struct refused_case {
        const char* why;
        key_source source;
    };
    for (const auto& [why, source] : {
             refused_case{"another group", source_with(0440, 0, daemon + 1, daemon)},
             refused_case{"not root's file", source_with(0440, 1000, daemon, daemon)},
             refused_case{"root's group, a root daemon", source_with(0440, 0, 0, 0)},
             refused_case{"group may write", source_with(0460, 0, daemon, daemon)},
             refused_case{"owner may write", source_with(0640, 0, daemon, daemon)},
             refused_case{"others may read", source_with(0444, 0, daemon, daemon)},
             refused_case{"group may execute", source_with(0450, 0, daemon, daemon)},
         }) {
        const auto keyring = load_master_keyring(source, reader);
        ASSERT_FALSE(keyring) << why;
        EXPECT_NE(keyring.error().message.find("chmod 0400 /run/secrets/sessiond-master-key"), std::string::npos)
            << why << ": " << keyring.error().message;
        EXPECT_NE(keyring.error().message.find("owned by root, by root and the daemon's group only (mode 0440)"),
                  std::string::npos)
            << keyring.error().message;
    }
}

// The same on real files, laid out as a Kubernetes Secret volume is (each name a symlink through
// ..data to a timestamped directory), read by a process that is not root: a child that drops to
// the pod's user and group. Needs root to make root's files and to change user.
TEST_F(vault_master_keyring, a_kubernetes_secret_volume_for_a_non_root_pod_loads_as_that_pods_user) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: the files are root's and the reader drops to another user";
    constexpr uid_t pod = 65532;
    const fs::path volume = dir_.path() / "secrets";
    const fs::path stamped = volume / "..2026_12_06_11_00_00.000000001";
    fs::create_directories(stamped);
    const std::string key = random_bytes(master_key_size);
    written_.push_back(key);
    const fs::path file = dir_.write("secrets/..2026_12_06_11_00_00.000000001/sessiond-master-key", key);
    fs::create_directory_symlink(stamped.filename(), volume / "..data");
    fs::create_symlink(fs::path("..data") / "sessiond-master-key", volume / "sessiond-master-key");
    for (const fs::path& dir : {dir_.path(), volume, stamped}) {
        ASSERT_EQ(::chown(dir.c_str(), 0, pod), 0);
        fs::permissions(dir, fs::perms(0750), fs::perm_options::replace);
    }
    ASSERT_EQ(::chown(file.c_str(), 0, pod), 0);
    fs::permissions(file, fs::perms(0440), fs::perm_options::replace);

    // What the pod's process loads, and the same files for another group (0440 is then too wide).
    const auto load_as = [&](uid_t uid, gid_t gid) -> int {
        const pid_t child = ::fork();
        if (child == 0) {
            if (::setgroups(0, nullptr) != 0 || ::setresgid(gid, gid, gid) != 0 || ::setresuid(uid, uid, uid) != 0)
                ::_exit(3);
            keyring_environment env;
            env.credentials_directory = volume.string();
            const auto keyring = load_master_keyring_from_environment(env);
            if (!keyring) ::_exit(keyring.error().message.find("mode 0440") != std::string::npos ? 1 : 2);
            const secret* loaded = keyring->key(1);
            ::_exit(loaded && loaded->reveal() == key ? 0 : 4);
        }
        int status = 0;
        if (child < 0 || ::waitpid(child, &status, 0) != child || !WIFEXITED(status)) return -1;
        return WEXITSTATUS(status);
    };
    EXPECT_EQ(load_as(pod, pod), 0) << "0 loaded, 1 refused for its mode, 2 another error, 3 no drop, 4 wrong key";
    ASSERT_EQ(::chown(file.c_str(), 0, pod + 1), 0);
    for (const fs::path& dir : {dir_.path(), volume, stamped}) fs::permissions(dir, fs::perms(0755), fs::perm_options::replace);
    EXPECT_EQ(load_as(pod, pod), 1) << "a key in another group is refused by its mode";
}

TEST_F(vault_master_keyring, posix_acl_attributes_parse_in_the_kernels_format) {
    const auto parsed = parse_posix_acl(acl_xattr({{0x01, 4, no_id}, {0x02, 4, 65534}, {0x10, 4, no_id}}));
    ASSERT_TRUE(parsed);
    ASSERT_EQ(parsed->size(), 3u);
    EXPECT_EQ((*parsed)[1].kind, acl_entry::tag::user);
    EXPECT_EQ((*parsed)[1].perm, 4u);
    EXPECT_EQ((*parsed)[1].id, 65534u);
    EXPECT_FALSE(parse_posix_acl(""));
    EXPECT_FALSE(parse_posix_acl(acl_xattr({}).substr(0, 3)));
    EXPECT_FALSE(parse_posix_acl(acl_xattr({{0x40, 4, 0}})));
}

TEST_F(vault_master_keyring, a_symlink_to_a_key_is_followed) {
    key_file("real/key");
    fs::create_directories(dir_.path() / "credentials");
    fs::create_symlink(dir_.path() / "real/key", dir_.path() / "credentials/sessiond-master-key");
    const auto keyring = load(dir_.path() / "credentials", std::nullopt);
    ASSERT_TRUE(keyring) << keyring.error().message;
    EXPECT_EQ(key_of(*keyring, 1), written_.back());
}

TEST_F(vault_master_keyring, what_is_not_a_regular_file_is_refused) {
    const fs::path fifo = dir_.path() / "master-key";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0400), 0);
    const auto from_fifo = load(std::nullopt, fifo);
    ASSERT_FALSE(from_fifo);
    EXPECT_EQ(from_fifo.error().message,
              "master key file " + fifo.string() + " is not a regular file (a device, pipe or socket)");

    fs::create_directories(dir_.path() / "keys/1");
    const auto from_directory = load(std::nullopt, dir_.path() / "keys");
    ASSERT_FALSE(from_directory);
    EXPECT_EQ(from_directory.error().message,
              "master key file " + (dir_.path() / "keys/1").string() + " is a directory, not a regular file");
}

TEST_F(vault_master_keyring, a_missing_key_file_is_named) {
    const auto keyring = load(std::nullopt, dir_.path() / "nowhere");
    ASSERT_FALSE(keyring);
    EXPECT_EQ(keyring.error().message, "master key file " + (dir_.path() / "nowhere").string() + " does not exist");
}

TEST_F(vault_master_keyring, without_any_key_the_error_says_how_to_make_one) {
    const auto keyring = load(std::nullopt, std::nullopt);
    ASSERT_FALSE(keyring);
    const std::string& message = keyring.error().message;
    EXPECT_NE(message.find("umask 077; head -c 32 /dev/urandom > /etc/ibkr-sessiond/master-key; "
                           "chmod 0400 /etc/ibkr-sessiond/master-key"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("LoadCredential=sessiond-master-key:/etc/ibkr-sessiond/master-key"), std::string::npos);
    EXPECT_NE(message.find("systemd-creds encrypt --name=sessiond-master-key"), std::string::npos);
    EXPECT_NE(message.find("SESSIOND_MASTER_KEY_FILE"), std::string::npos);

    fs::create_directories(dir_.path() / "empty");
    const auto from_empty = load(std::nullopt, dir_.path() / "empty");
    ASSERT_FALSE(from_empty);
    EXPECT_NE(from_empty.error().message.find("no master key in the key directory"), std::string::npos);
    EXPECT_NE(from_empty.error().message.find("umask 077"), std::string::npos);
}

// The pure loader, over a listing and a reader that are not the filesystem.
TEST_F(vault_master_keyring, the_loader_reads_only_files_that_passed_every_check) {
    key_source source{key_source_kind::key_directory,
                      "/keys",
                      {{"/keys/1", key_file_type::regular, 0400, 32, {}}, {"/keys/2", key_file_type::regular, 0600, 32, {}}},
                      0};
    int reads = 0;
    const auto keyring = load_master_keyring(source, [&](const fs::path&) -> expected<secret> {
        ++reads;
        return secret(random_bytes(master_key_size));
    });
    ASSERT_FALSE(keyring);
    EXPECT_EQ(reads, 0);
    EXPECT_NE(keyring.error().message.find("/keys/2 has mode 0600"), std::string::npos);
}

TEST_F(vault_master_keyring, a_file_that_changed_size_after_listing_is_refused) {
    key_source source{key_source_kind::key_file, "/k", {{"/k", key_file_type::regular, 0400, 32, {}}}, 0};
    const auto keyring =
        load_master_keyring(source, [&](const fs::path&) -> expected<secret> { return secret(random_bytes(40)); });
    ASSERT_FALSE(keyring);
    EXPECT_EQ(keyring.error().message, "master key file /k is 40 bytes: a master key is exactly 32 raw bytes");
}

TEST_F(vault_master_keyring, from_keys_refuses_version_0_and_keys_of_the_wrong_size) {
    std::map<std::uint32_t, secret> zero;
    zero.emplace(0, secret(random_bytes(32)));
    EXPECT_FALSE(master_keyring::from_keys(std::move(zero)));
    std::map<std::uint32_t, secret> short_key;
    short_key.emplace(1, secret(random_bytes(16)));
    EXPECT_FALSE(master_keyring::from_keys(std::move(short_key)));
    EXPECT_FALSE(master_keyring::from_keys({}));
}

}  // namespace
}  // namespace sessiond
