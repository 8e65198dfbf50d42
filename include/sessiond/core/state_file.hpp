#pragma once
// Small files: durable ones in the daemon's state directory (SESSIOND_STATE_DIR), such as the login
// budget, and the one reader of small files, which configuration files (keys, credentials, the env
// file) go through too.
//
// Every call blocks. They are meant for tiny files written a few times an hour, and calling them on
// the event loop is acceptable: on a local filesystem they take microseconds (the fsyncs at most a
// few milliseconds). Do not use them for large files or on network filesystems.

#include "sessiond/core/error.hpp"
#include "sessiond/core/secret.hpp"

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace sessiond {

// Replaces `path` with `content`, all or nothing even across a crash or power loss: writes a new
// file (mode 0600) beside it, fsyncs it, renames it over `path` and fsyncs the directory. On failure
// the previous file is untouched, no temporary file is left behind, and the error names the path
// and the system's reason.
expected<void> write_atomically(const std::filesystem::path& path, std::string_view content);

// Removes the temporary files write_atomically(path, ...) leaves behind when the process is killed
// between creating one and renaming it. Call before the first write, when no other writer of `path`
// runs. Returns how many it removed; what cannot be removed is left alone (the next write works anyway).
std::size_t remove_leftover_temporaries(const std::filesystem::path& path);

// The whole of a small regular file; nullopt when it does not exist. An error when it cannot be
// read, is not a regular file, or holds more than max_bytes (never reads more than max_bytes + 1).
expected<std::optional<std::string>> read_small_file(const std::filesystem::path& path,
                                                     std::size_t max_bytes = 64 * 1024);

// A file that may hold a secret, and its permission bits.
struct private_file {
    secret content;
    unsigned mode = 0;  // e.g. 0600
};

// The whole of a file that may hold a secret: anything readable but a directory (a pipe from a
// process substitution included), at most max_bytes. Every buffer the read grows out of is wiped, so
// that no copy of a key is left in freed memory. The error is "cannot read PATH: " and the system's
// reason ("No such file or directory", "Is a directory", "File too large").
expected<private_file> read_private_file(const std::filesystem::path& path, std::size_t max_bytes);

}  // namespace sessiond
