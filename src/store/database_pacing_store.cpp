#include "sessiond/store/database_pacing_store.hpp"

#include <fmt/format.h>

#include <chrono>
#include <utility>

namespace sessiond {

namespace asio = boost::asio;

database_pacing_store::database_pacing_store(credential_store& store, std::string username, fence_source fence)
    : store_(store), username_(std::move(username)), fence_(std::move(fence)) {}

asio::awaitable<pacing_store::loaded> database_pacing_store::load(login_budget_settings limits, wall_time now) {
    auto read = [username = username_](store_tx& tx) { return tx.load_pacing(username); };
    auto text = co_await store_.transact(std::move(read));
    co_return loaded{parse_stored_pacing(text, limits, now), {}};
}

asio::awaitable<expected<void>> database_pacing_store::save(persisted_pacing record) {
    const auto at_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    std::optional<lease_fence> fence;
    if (fence_) {
        fence = fence_();
        if (!fence)
            co_return make_error(fmt::format("{}: refused: this replica holds no lease on the user; the record is "
                                             "the holder's to write",
                                             where()));
    }
    // Serialised here, written on the database thread.
    auto write = [username = username_, text = serialize_pacing(record.logins, record.last_validate), at_ms,
                  fence = std::move(fence)](store_tx& tx) { return tx.save_pacing(username, text, at_ms, fence); };
    co_return co_await store_.transact(std::move(write));
}

std::string database_pacing_store::where() const {
    return fmt::format("{} (pacing row {})", store_.where(), pacing_file_name(username_));
}

}  // namespace sessiond
