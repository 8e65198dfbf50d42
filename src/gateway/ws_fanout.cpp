#include "sessiond/gateway/ws_fanout.hpp"

#include "sessiond/gateway/ws_topics.hpp"

namespace sessiond {

ws_fanout::decision ws_fanout::subscribe(ws_client_id client, const std::string& key, std::string frame) {
    auto& mine = by_client_[client];
    const auto it = by_key_.find(key);
    if (it == by_key_.end()) {
        if (mine.size() >= max_keys_per_client || by_key_.size() >= max_keys) {
            if (mine.empty()) by_client_.erase(client);
            return {std::nullopt, true};
        }
        by_key_.emplace(key, subscription{frame, {client}});
        mine.insert(key);
        return {std::move(frame), false};
    }
    subscription& s = it->second;
    const bool again = s.clients.contains(client);
    if (!again && mine.size() >= max_keys_per_client) {
        if (mine.empty()) by_client_.erase(client);
        return {std::nullopt, true};
    }
    s.clients.insert(client);
    mine.insert(key);
    if (!again && s.frame == frame) return {};
    s.frame = frame;
    return {std::move(frame), false};
}

ws_fanout::decision ws_fanout::unsubscribe(ws_client_id client, const std::string& key, std::string frame) {
    const auto mine = by_client_.find(client);
    if (mine == by_client_.end() || mine->second.erase(key) == 0) return {};
    if (mine->second.empty()) by_client_.erase(mine);
    const auto it = by_key_.find(key);
    it->second.clients.erase(client);
    if (!it->second.clients.empty()) return {};
    by_key_.erase(it);
    return {std::move(frame), false};
}

std::vector<std::string> ws_fanout::remove(ws_client_id client) {
    std::vector<std::string> ends;
    const auto mine = by_client_.find(client);
    if (mine == by_client_.end()) return ends;
    for (const std::string& key : mine->second) {
        const auto it = by_key_.find(key);
        it->second.clients.erase(client);
        if (it->second.clients.empty()) {
            ends.push_back(unsubscribe_frame(key));
            by_key_.erase(it);
        }
    }
    by_client_.erase(mine);
    return ends;
}

std::vector<std::string> ws_fanout::subscribe_frames() const {
    std::vector<std::string> frames;
    frames.reserve(by_key_.size());
    for (const auto& [key, s] : by_key_) frames.push_back(s.frame);
    return frames;
}

std::vector<ws_client_id> ws_fanout::subscribers(std::string_view key) const {
    const auto it = by_key_.find(key);
    if (it == by_key_.end()) return {};
    return {it->second.clients.begin(), it->second.clients.end()};
}

bool ws_fanout::holds(ws_client_id client, std::string_view key) const {
    const auto it = by_client_.find(client);
    return it != by_client_.end() && it->second.contains(key);
}

}  // namespace sessiond
