#include "ibkr_sim/replica_overlaps.hpp"

#include <boost/json/array.hpp>

namespace sessiond::sim {

void replica_overlaps::session_opened(std::string_view user, std::string_view agent) {
    if (const auto it = holders_.find(user); it != holders_.end())
        it->second = agent;
    else
        holders_.emplace(std::string(user), std::string(agent));
}

bool replica_overlaps::acted(std::string_view user, std::string_view agent, std::string_view path, wall_time now) {
    const auto it = holders_.find(user);
    if (it == holders_.end() || it->second == agent) return false;
    ++count_;
    if (records_.size() < max_records)
        records_.push_back({std::string(user), std::string(agent), it->second, std::string(path), epoch_ms(now)});
    return true;
}

std::optional<std::string_view> replica_overlaps::holder(std::string_view user) const {
    const auto it = holders_.find(user);
    if (it == holders_.end()) return std::nullopt;
    return it->second;
}

boost::json::object replica_overlaps::overlaps_json() const {
    boost::json::array overlaps;
    overlaps.reserve(records_.size());
    for (const auto& o : records_)
        overlaps.push_back(boost::json::object{
            {"user", o.user}, {"agent", o.agent}, {"holder", o.holder}, {"path", o.path}, {"at_ms", o.at_ms}});
    return {{"count", count_}, {"overlaps", std::move(overlaps)}};
}

boost::json::object replica_overlaps::holders_json() const {
    boost::json::object holders;
    for (const auto& [user, agent] : holders_) holders[user] = agent;
    return {{"holders", std::move(holders)}};
}

}  // namespace sessiond::sim
