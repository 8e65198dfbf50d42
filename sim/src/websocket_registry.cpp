#include "ibkr_sim/websocket_registry.hpp"

#include <vector>

namespace sessiond::sim {

std::uint64_t websocket_registry::add(ws_peer& peer) {
    const std::uint64_t id = next_id_++;
    peers_.emplace(id, &peer);
    ++stats_.opened;
    return id;
}

std::size_t websocket_registry::close_where(const std::function<bool(const ws_peer&)>& which) {
    // A peer may leave the registry synchronously while closing: walk a snapshot.
    std::vector<ws_peer*> chosen;
    for (const auto& [id, peer] : peers_)
        if (which(*peer)) chosen.push_back(peer);
    std::size_t closed = 0;
    for (auto* peer : chosen)
        if (peer->close()) ++closed;
    return closed;
}

std::size_t websocket_registry::drop_all() {
    const std::size_t n = close_where([](const ws_peer&) { return true; });
    stats_.dropped += n;
    return n;
}

std::size_t websocket_registry::close_ended(const std::function<bool(std::string_view bearer)>& alive) {
    const std::size_t n = close_where([&](const ws_peer& p) { return !alive(p.bearer()); });
    stats_.session_ended += n;
    return n;
}

void websocket_registry::orders_changed(std::size_t user) {
    for (const auto& [id, peer] : peers_)
        if (peer->user() == user) peer->orders_changed();
}

boost::json::array websocket_registry::describe() const {
    boost::json::array out;
    for (const auto& [id, peer] : peers_) {
        boost::json::object o = peer->describe();
        o["id"] = id;
        out.push_back(std::move(o));
    }
    return out;
}

boost::json::object websocket_registry::stats_json() const {
    return {{"open", peers_.size()},
            {"opened", stats_.opened},
            {"dropped", stats_.dropped},
            {"session_ended", stats_.session_ended},
            {"cut_off", stats_.cut_off},
            {"messages_in", stats_.messages_in},
            {"messages_out", stats_.messages_out}};
}

}  // namespace sessiond::sim
