#pragma once
// The pacing store of a state directory: one file per username (pacing_file.hpp), read and written
// (temporary file, fsync, rename, fsync of the directory) on the worker the offload names, so that a
// slow disk holds up neither the other sessions nor the API.

#include "sessiond/core/offload.hpp"
#include "sessiond/pacing/pacing_store.hpp"

#include <filesystem>
#include <string_view>

namespace sessiond {

class pacing_file_store final : public pacing_store {
public:
    pacing_file_store(const std::filesystem::path& state_dir, std::string_view credential, offload blocking);

    boost::asio::awaitable<loaded> load(login_budget_settings limits, wall_time now) override;
    boost::asio::awaitable<expected<void>> save(persisted_pacing record) override;
    [[nodiscard]] std::string where() const override { return path_.string(); }

private:
    std::filesystem::path path_;
    offload blocking_;
};

}  // namespace sessiond
