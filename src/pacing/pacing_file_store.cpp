#include "sessiond/pacing/pacing_file_store.hpp"

#include "sessiond/core/state_file.hpp"

#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <utility>

namespace sessiond {

namespace asio = boost::asio;

pacing_file_store::pacing_file_store(const std::filesystem::path& state_dir, std::string_view credential,
                                     offload blocking)
    : path_(state_dir / pacing_file_name(credential)), blocking_(std::move(blocking)) {}

asio::awaitable<pacing_store::loaded> pacing_file_store::load(login_budget_settings limits, wall_time now) {
    auto read = [path = path_] { return std::make_pair(remove_leftover_temporaries(path), read_small_file(path)); };
    const auto [removed, text] = co_await blocking_.run(std::move(read));
    loaded out{parse_stored_pacing(text, limits, now), {}};
    if (removed > 0) out.note = fmt::format("removed {} temporary file(s) left by an interrupted write", removed);
    co_return out;
}

asio::awaitable<expected<void>> pacing_file_store::save(persisted_pacing record) {
    // Serialised here, written on the worker.
    auto write = [path = path_, text = serialize_pacing(record.logins, record.last_validate)] {
        return write_atomically(path, text);
    };
    co_return co_await blocking_.run(std::move(write));
}

}  // namespace sessiond
