#pragma once
// The master keys of the vault (key-encryption keys): what wraps each credential record's data key
// and what the audit chain's MAC keys are derived from. They are versioned so that a new key can be
// introduced while records wrapped under an older one are rewrapped; new wraps use the highest
// version present.
//
// Where they come from, in this order (the first source that holds a master key is the only one read):
//   1. systemd credentials in $CREDENTIALS_DIRECTORY: `sessiond-master-key` is version 1, and
//      `sessiond-master-key_<N>` is version N (what LoadCredential=sessiond-master-key:/a/directory
//      names the directory's files);
//   2. SESSIOND_MASTER_KEY_FILE: a file (version 1) or a directory whose files are named by their
//      version (`1`, `2`, ...).
// Each key file: a regular file (a symlink is followed), exactly 32 raw bytes, no permission bit
// of 0377 set (mode 0400 or tighter). Errors name the file and what is wrong, never its content.
// Group read is allowed in one shape, PostgreSQL's rule for its TLS key: the file belongs to root,
// its group is the daemon's own (effective) group, which is not root's, and nothing but reading by
// the owner and that group is allowed (mode 0440). That is what Kubernetes makes of a Secret volume
// for a non-root pod (root:<fsGroup>, 0440), and what `chgrp <daemon's group>; chmod 0440` gives
// on a host where root owns the keys.
// One exception, because systemd makes it: a file with a POSIX ACL. systemd writes a credential
// 0400 and grants the service's user read access with an ACL entry (user:UID:r--), and stat() then
// shows the ACL's mask in the group bits (mode 0440) although no group can read the file. So with an
// ACL the group bits are judged by the ACL's own entries: only the reading user may be named, for
// reading only.
//
// The decisions are pure (load_master_keyring over a listing and a reader); the filesystem and the
// environment are read only by the thin load_master_keyring_from_environment.

#include "sessiond/core/error.hpp"
#include "sessiond/core/secret.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sessiond {

inline constexpr std::size_t master_key_size = 32;
inline constexpr std::string_view master_key_credential = "sessiond-master-key";

class master_keyring {
public:
    // Refuses an empty map, version 0 and keys that are not exactly master_key_size bytes.
    static expected<master_keyring> from_keys(std::map<std::uint32_t, secret> keys);

    // The version new wraps and new audit entries use: the highest loaded.
    [[nodiscard]] std::uint32_t current_version() const noexcept { return keys_.rbegin()->first; }
    // nullptr when that version is not loaded.
    [[nodiscard]] const secret* key(std::uint32_t version) const noexcept;
    [[nodiscard]] std::vector<std::uint32_t> versions() const;

private:
    explicit master_keyring(std::map<std::uint32_t, secret> keys) : keys_(std::move(keys)) {}
    std::map<std::uint32_t, secret> keys_;  // never empty
};

// "master key version 3 is not loaded": the one wording of a record or entry under a version the
// keyring lacks.
std::string unknown_key_version_message(std::uint32_t version);

// What the key-making instructions say, for the error when no key is configured.
std::string master_key_howto();

enum class key_source_kind {
    credentials_directory,  // names `sessiond-master-key` and `sessiond-master-key_<N>`
    key_file,               // SESSIOND_MASTER_KEY_FILE naming a file: version 1
    key_directory,          // SESSIOND_MASTER_KEY_FILE naming a directory: files named by version
};

enum class key_file_type { regular, directory, other, missing };

// One entry of a POSIX access ACL; perm is rwx as in a mode (r = 4).
struct acl_entry {
    enum class tag { user_obj, user, group_obj, group, mask, other };
    tag kind = tag::user_obj;
    unsigned perm = 0;
    std::uint32_t id = 0;  // the uid or gid of a named user or group entry
};

// The entries of a `system.posix_acl_access` extended attribute (the kernel's format: a 4-byte
// version 2, then 8 bytes per entry, little-endian); nullopt when it is not one.
std::optional<std::vector<acl_entry>> parse_posix_acl(std::string_view xattr);

// One file of a key source as stat() (following symlinks) sees it.
struct key_file_entry {
    std::filesystem::path path;
    key_file_type type = key_file_type::regular;
    unsigned mode = 0;  // permission bits, e.g. 0400
    std::uintmax_t size = 0;
    std::vector<acl_entry> acl;  // empty when the file has no ACL beyond its mode
    std::uint32_t owner_uid = 0;
    std::uint32_t group_gid = 0;
};

struct key_source {
    key_source_kind kind = key_source_kind::key_file;
    std::filesystem::path location;     // the directory, or the key file itself
    std::vector<key_file_entry> files;  // a credentials directory: all its files, the others ignored
    std::uint32_t reader_uid = 0;       // the user the daemon runs as: the one an ACL may grant reading
    std::uint32_t reader_gid = 0;       // its effective group: the one group that may read a root-owned key
};

// The version a file's name gives in a source: nullopt when the file is not a master key (another
// credential beside it), an error when it should be one but its version is not a number >= 1.
expected<std::optional<std::uint32_t>> key_version_from_name(key_source_kind kind, const std::filesystem::path& path);

// Whether the source holds any master key at all (a credentials directory may hold only others).
bool holds_master_key(const key_source& source);

using key_file_reader = std::function<expected<secret>(const std::filesystem::path&)>;

// Checks every key file's type, mode and size, then reads it. An error names the first bad file and
// what is wrong; a source without any master key gets master_key_howto().
expected<master_keyring> load_master_keyring(const key_source& source, const key_file_reader& read);

// The environment's variables the loader consults (injected, so tests need not set the process's).
struct keyring_environment {
    std::optional<std::string> credentials_directory;  // $CREDENTIALS_DIRECTORY
    std::optional<std::string> master_key_file;        // $SESSIOND_MASTER_KEY_FILE
};

keyring_environment keyring_environment_from_process();

// Lists the sources on the filesystem in order and loads the first that holds a master key.
expected<master_keyring> load_master_keyring_from_environment(const keyring_environment& env);

}  // namespace sessiond
