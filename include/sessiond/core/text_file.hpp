#pragma once
// Whole-file reads and writes for start-up (ibkr-sim's keys and certificates, the HTTPS listener's
// generated certificate): not for the event loop.

#include "sessiond/core/error.hpp"

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>

namespace sessiond {

expected<std::string> read_text_file(const std::filesystem::path& path);

// Creates or truncates path with the given mode (0600 for keys).
expected<void> write_text_file(const std::filesystem::path& path, std::string_view content, mode_t mode);

}  // namespace sessiond
