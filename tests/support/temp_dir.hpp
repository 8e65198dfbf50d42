#pragma once
// A private directory for one test, removed with everything in it when the test ends.

#include <filesystem>
#include <string_view>

namespace sessiond::testing {

class temp_dir {
public:
    temp_dir();
    ~temp_dir();
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
    // Writes a file (mode 0600) below the directory and returns its path.
    std::filesystem::path write(std::string_view name, std::string_view content) const;

private:
    std::filesystem::path path_;
};

}  // namespace sessiond::testing
