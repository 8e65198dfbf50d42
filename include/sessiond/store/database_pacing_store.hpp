#pragma once
// The pacing store of multi-user mode: each IBKR username's pacing record (pacing_file.hpp's text)
// as a row of the database's pacing table instead of a file in the state directory, read and
// written on the store's database thread. Engine-neutral: it goes through credential_store.
// As one of several replicas, a record is written only under the replica's lease on the user
// (credential_store.hpp's lease_fence): the fence is asked on the event loop at each save.

#include "sessiond/pacing/pacing_store.hpp"
#include "sessiond/store/credential_store.hpp"

#include <functional>
#include <optional>
#include <string>

namespace sessiond {

class database_pacing_store final : public pacing_store {
public:
    // The lease a save is written under; none: this replica holds no lease on the user, and the
    // save is refused.
    using fence_source = std::function<std::optional<lease_fence>()>;

    // The store must outlive this object and every call awaited on it. Without `fence`, the only
    // daemon of the database writes freely.
    database_pacing_store(credential_store& store, std::string username, fence_source fence = {});

    boost::asio::awaitable<loaded> load(login_budget_settings limits, wall_time now) override;
    boost::asio::awaitable<expected<void>> save(persisted_pacing record) override;
    // The database and the row's hashed name, as the file store names its file: never the username.
    [[nodiscard]] std::string where() const override;

private:
    credential_store& store_;
    std::string username_;
    fence_source fence_;
};

}  // namespace sessiond
