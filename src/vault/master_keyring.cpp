#include "sessiond/vault/master_keyring.hpp"

#include "sessiond/core/state_file.hpp"

#include <fmt/format.h>

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <system_error>

namespace sessiond {

namespace fs = std::filesystem;

namespace {

// Group and other bits, and the owner's write and execute bits: a key file is read, never written.
constexpr unsigned forbidden_mode_bits = 0377;
// The same for a root-owned key whose group is the daemon's: its group may read too.
constexpr unsigned forbidden_mode_bits_for_group_key = 0337;

// Digits only, as systemd and the directory name them; no sign, no spaces, within uint32.
std::optional<std::uint32_t> parse_version(std::string_view text) {
    if (text.empty() || text.size() > 10) return std::nullopt;
    std::uint64_t value = 0;
    for (const char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value == 0 || value > 0xffffffffu) return std::nullopt;
    return static_cast<std::uint32_t>(value);
}

std::string where(const key_source& source) {
    switch (source.kind) {
        case key_source_kind::credentials_directory: return "the credentials directory " + source.location.string();
        case key_source_kind::key_directory: return "the key directory " + source.location.string();
        case key_source_kind::key_file: break;
    }
    return source.location.string();
}

std::string mode_refusal(const std::string& path, unsigned mode) {
    return fmt::format("master key file {} has mode {:04o}: it must be readable by its owner only and writable by "
                       "nobody (run: chmod 0400 {}), or, owned by root, by root and the daemon's group only "
                       "(mode 0440)",
                       path, mode & 07777, path);
}

// Root's file in the daemon's own group, readable by the two and nothing else (the header says why).
bool readable_by_root_and_the_daemons_group(const key_file_entry& file, std::uint32_t reader_gid) {
    return (file.mode & forbidden_mode_bits_for_group_key) == 0 && file.owner_uid == 0 && reader_gid != 0 &&
           file.group_gid == reader_gid;
}

// With an ACL, the mode's group bits are the ACL's mask: who may read is in the entries.
expected<void> check_acl(const std::string& path, const key_file_entry& file, std::uint32_t reader_uid) {
    if ((file.mode & 0307) != 0) return make_error(mode_refusal(path, file.mode));
    unsigned mask = 07;
    for (const acl_entry& e : file.acl)
        if (e.kind == acl_entry::tag::mask) mask = e.perm;
    for (const acl_entry& e : file.acl) {
        const unsigned granted = e.perm & mask;
        bool too_wide = false;
        switch (e.kind) {
            case acl_entry::tag::user_obj: too_wide = (e.perm & 03) != 0; break;
            case acl_entry::tag::user: too_wide = (granted & 03) != 0 || (granted != 0 && e.id != reader_uid); break;
            case acl_entry::tag::group_obj:
            case acl_entry::tag::group:
            case acl_entry::tag::other: too_wide = granted != 0; break;
            case acl_entry::tag::mask: break;
        }
        if (too_wide)
            return make_error(fmt::format("master key file {} has an ACL that lets others than the daemon's user "
                                          "read or write it (run: setfacl -b {}; chmod 0400 {})",
                                          path, path, path));
    }
    return {};
}

expected<void> check_key_file(const key_file_entry& file, std::uint32_t reader_uid, std::uint32_t reader_gid) {
    const std::string path = file.path.string();
    switch (file.type) {
        case key_file_type::regular: break;
        case key_file_type::missing: return make_error(fmt::format("master key file {} does not exist", path));
        case key_file_type::directory:
            return make_error(fmt::format("master key file {} is a directory, not a regular file", path));
        case key_file_type::other:
            return make_error(fmt::format("master key file {} is not a regular file (a device, pipe or socket)", path));
    }
    if (!file.acl.empty()) {
        if (auto checked = check_acl(path, file, reader_uid); !checked) return checked;
    } else if ((file.mode & forbidden_mode_bits) != 0 && !readable_by_root_and_the_daemons_group(file, reader_gid)) {
        return make_error(mode_refusal(path, file.mode));
    }
    if (file.size != master_key_size) {
        // 64 or 44 bytes (plus a line break) is a key written as hex or base64 text.
        const bool looks_encoded = file.size == 64 || file.size == 65 || file.size == 44 || file.size == 45;
        return make_error(fmt::format("master key file {} is {} bytes: a master key is exactly {} raw bytes{}", path,
                                      file.size, master_key_size,
                                      looks_encoded ? " (this one looks hex- or base64-encoded: store the raw bytes)"
                                                    : ""));
    }
    return {};
}

}  // namespace

std::optional<std::vector<acl_entry>> parse_posix_acl(std::string_view xattr) {
    const auto le = [&](std::size_t at, std::size_t width) {
        std::uint32_t value = 0;
        for (std::size_t i = width; i-- > 0;) value = (value << 8) | static_cast<unsigned char>(xattr[at + i]);
        return value;
    };
    if (xattr.size() < 4 || (xattr.size() - 4) % 8 != 0 || le(0, 4) != 2) return std::nullopt;
    std::vector<acl_entry> entries;
    for (std::size_t at = 4; at < xattr.size(); at += 8) {
        acl_entry e;
        switch (le(at, 2)) {
            case 0x01: e.kind = acl_entry::tag::user_obj; break;
            case 0x02: e.kind = acl_entry::tag::user; break;
            case 0x04: e.kind = acl_entry::tag::group_obj; break;
            case 0x08: e.kind = acl_entry::tag::group; break;
            case 0x10: e.kind = acl_entry::tag::mask; break;
            case 0x20: e.kind = acl_entry::tag::other; break;
            default: return std::nullopt;
        }
        e.perm = le(at + 2, 2) & 07;
        e.id = le(at + 4, 4);
        entries.push_back(e);
    }
    return entries;
}

expected<master_keyring> master_keyring::from_keys(std::map<std::uint32_t, secret> keys) {
    if (keys.empty()) return make_error("a master keyring needs at least one key");
    for (const auto& [version, key] : keys) {
        if (version == 0) return make_error("master key versions start at 1");
        if (key.size() != master_key_size)
            return make_error(fmt::format("master key version {} is {} bytes: a master key is exactly {} bytes", version,
                                          key.size(), master_key_size));
    }
    return master_keyring(std::move(keys));
}

const secret* master_keyring::key(std::uint32_t version) const noexcept {
    const auto found = keys_.find(version);
    return found == keys_.end() ? nullptr : &found->second;
}

std::vector<std::uint32_t> master_keyring::versions() const {
    std::vector<std::uint32_t> out;
    for (const auto& entry : keys_) out.push_back(entry.first);
    return out;
}

std::string unknown_key_version_message(std::uint32_t version) {
    return fmt::format("master key version {} is not loaded", version);
}

std::string master_key_howto() {
    return "make one (32 random bytes that only the daemon's user can read):\n"
           "  umask 077; head -c 32 /dev/urandom > /etc/ibkr-sessiond/master-key; "
           "chmod 0400 /etc/ibkr-sessiond/master-key\n"
           "and give it to the daemon either as SESSIOND_MASTER_KEY_FILE=/etc/ibkr-sessiond/master-key, or as a "
           "systemd credential in the unit:\n"
           "  LoadCredential=sessiond-master-key:/etc/ibkr-sessiond/master-key\n"
           "or encrypted with the host's credential key:\n"
           "  systemd-creds encrypt --name=sessiond-master-key /etc/ibkr-sessiond/master-key "
           "/etc/credstore.encrypted/sessiond-master-key\n"
           "  LoadCredentialEncrypted=sessiond-master-key:/etc/credstore.encrypted/sessiond-master-key";
}

expected<std::optional<std::uint32_t>> key_version_from_name(key_source_kind kind, const fs::path& path) {
    const std::string name = path.filename().string();
    switch (kind) {
        case key_source_kind::key_file: return std::optional<std::uint32_t>(1);
        case key_source_kind::credentials_directory: {
            if (name == master_key_credential) return std::optional<std::uint32_t>(1);
            // What LoadCredential= of a directory names its files: the ID, "_", the file's name.
            constexpr std::string_view prefix = "sessiond-master-key_";
            static_assert(prefix.substr(0, master_key_credential.size()) == master_key_credential);
            if (!name.starts_with(prefix)) return std::optional<std::uint32_t>();
            if (const auto version = parse_version(std::string_view(name).substr(prefix.size())))
                return std::optional<std::uint32_t>(*version);
            return make_error(fmt::format("master key credential {}: the part after \"{}\" must be the key's version, "
                                          "a number from 1 (e.g. {}2)",
                                          path.string(), prefix, prefix));
        }
        case key_source_kind::key_directory: {
            if (const auto version = parse_version(name)) return std::optional<std::uint32_t>(*version);
            return make_error(fmt::format("master key file {}: in a key directory each file is named by its version, "
                                          "a number from 1 (1, 2, ...)",
                                          path.string()));
        }
    }
    return std::optional<std::uint32_t>();
}

bool holds_master_key(const key_source& source) {
    for (const key_file_entry& file : source.files) {
        const auto version = key_version_from_name(source.kind, file.path);
        // A misnamed key still counts: the operator meant this source, and must hear what is wrong.
        if (!version || *version) return true;
    }
    return false;
}

expected<master_keyring> load_master_keyring(const key_source& source, const key_file_reader& read) {
    std::map<std::uint32_t, const key_file_entry*> chosen;
    for (const key_file_entry& file : source.files) {
        const auto version = key_version_from_name(source.kind, file.path);
        if (!version) return version.error();
        if (!*version) continue;
        if (auto checked = check_key_file(file, source.reader_uid, source.reader_gid); !checked) return checked.error();
        const auto [at, inserted] = chosen.emplace(**version, &file);
        if (!inserted)
            return make_error(fmt::format("master key files {} and {} both give version {}: keep one",
                                          at->second->path.string(), file.path.string(), **version));
    }
    if (chosen.empty()) return make_error("no master key in " + where(source) + ": " + master_key_howto());

    std::map<std::uint32_t, secret> keys;
    for (const auto& [version, file] : chosen) {
        auto key = read(file->path);
        if (!key) return key.error();
        // The file may have changed since it was listed.
        if (key->size() != master_key_size)
            return make_error(fmt::format("master key file {} is {} bytes: a master key is exactly {} raw bytes",
                                          file->path.string(), key->size(), master_key_size));
        keys.emplace(version, std::move(*key));
    }
    return master_keyring::from_keys(std::move(keys));
}

namespace {

// The file's access ACL; empty without one (or on a filesystem without ACLs). An ACL that cannot be
// parsed is returned as one that grants everything, so that the file is refused rather than trusted.
std::vector<acl_entry> read_access_acl(const fs::path& path) {
    std::string buffer(1024, '\0');
    const ssize_t n = ::getxattr(path.c_str(), "system.posix_acl_access", buffer.data(), buffer.size());
    if (n <= 0) return {};
    buffer.resize(static_cast<std::size_t>(n));
    if (auto parsed = parse_posix_acl(buffer)) return *parsed;
    return {acl_entry{acl_entry::tag::other, 07, 0}};
}

key_file_entry stat_key_file(const fs::path& path) {
    key_file_entry entry{path, key_file_type::other, 0, 0, {}};
    // One stat() for all of it; it follows symlinks, as systemd does when it loads a credential.
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) entry.type = key_file_type::missing;
        return entry;
    }
    entry.mode = static_cast<unsigned>(st.st_mode) & 07777;
    entry.owner_uid = st.st_uid;
    entry.group_gid = st.st_gid;
    if (S_ISDIR(st.st_mode)) entry.type = key_file_type::directory;
    else if (S_ISREG(st.st_mode)) {
        entry.type = key_file_type::regular;
        entry.size = static_cast<std::uintmax_t>(std::max<off_t>(st.st_size, 0));
        entry.acl = read_access_acl(path);
    }
    return entry;
}

expected<key_source> list_directory(key_source_kind kind, const fs::path& dir) {
    key_source source{kind, dir, {}, ::geteuid(), ::getegid()};
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
        source.files.push_back(stat_key_file(it->path()));
    if (ec) return make_error(fmt::format("cannot list {}: {}", dir.string(), ec.message()));
    return source;
}

expected<secret> read_key_file(const fs::path& path) {
    // A little more than a key, so that a file that grew since it was listed is reported by its size.
    auto file = read_private_file(path, 4 * master_key_size);
    if (!file) return file.error();
    return std::move(file->content);
}

}  // namespace

keyring_environment keyring_environment_from_process() {
    keyring_environment env;
    if (const char* v = std::getenv("CREDENTIALS_DIRECTORY")) env.credentials_directory = v;
    if (const char* v = std::getenv("SESSIOND_MASTER_KEY_FILE")) env.master_key_file = v;
    return env;
}

expected<master_keyring> load_master_keyring_from_environment(const keyring_environment& env) {
    if (env.credentials_directory && !env.credentials_directory->empty()) {
        auto source = list_directory(key_source_kind::credentials_directory, *env.credentials_directory);
        if (!source) return source.error();
        if (holds_master_key(*source)) return load_master_keyring(*source, read_key_file);
    }
    if (env.master_key_file && !env.master_key_file->empty()) {
        const fs::path path = *env.master_key_file;
        const key_file_entry entry = stat_key_file(path);
        if (entry.type == key_file_type::directory) {
            auto source = list_directory(key_source_kind::key_directory, path);
            if (!source) return source.error();
            return load_master_keyring(*source, read_key_file);
        }
        return load_master_keyring(key_source{key_source_kind::key_file, path, {entry}, ::geteuid(), ::getegid()}, read_key_file);
    }
    return make_error("no master key is configured (neither a sessiond-master-key credential nor "
                      "SESSIOND_MASTER_KEY_FILE): " +
                      master_key_howto());
}

}  // namespace sessiond
