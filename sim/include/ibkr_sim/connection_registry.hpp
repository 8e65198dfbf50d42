#pragma once
// The open connections of one server: their number (the connection cap), and a way to close each of
// them (including the ones a "hang" fault holds) so that a stopping simulator's event loop runs dry.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <utility>

namespace sessiond::sim {

class connection_registry {
public:
    using closer = std::function<void()>;

    // One connection's entry; leaving scope deregisters it.
    class membership {
    public:
        membership(connection_registry& r, std::uint64_t id) : registry_(&r), id_(id) {}
        membership(membership&& other) noexcept : registry_(std::exchange(other.registry_, nullptr)), id_(other.id_) {}
        membership& operator=(membership&&) = delete;
        membership(const membership&) = delete;
        membership& operator=(const membership&) = delete;
        ~membership() {
            if (registry_ != nullptr) registry_->closers_.erase(id_);
        }
        // What closes the connection: it may only cancel I/O (the connection's coroutine then ends).
        // Keep the membership in a scope nested inside everything the closer touches.
        void on_close(closer c) {
            if (registry_ != nullptr) registry_->closers_[id_] = std::move(c);
        }

    private:
        connection_registry* registry_;
        std::uint64_t id_;
    };

    // Counted from the moment of accepting, before the connection's coroutine first runs.
    [[nodiscard]] membership add() {
        const std::uint64_t id = next_id_++;
        closers_.emplace(id, closer{});
        return membership(*this, id);
    }

    void close_all() {
        for (auto& [id, close] : closers_)
            if (close) close();
    }

    [[nodiscard]] std::size_t size() const noexcept { return closers_.size(); }

private:
    std::map<std::uint64_t, closer> closers_;
    std::uint64_t next_id_ = 1;
};

}  // namespace sessiond::sim
