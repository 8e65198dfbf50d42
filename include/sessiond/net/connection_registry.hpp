#pragma once
// The open connections of one listener: how many there are (the connection cap), what each one is
// doing (to choose which to give up when the cap is reached), and a way to close each of them so that
// a stopping server's event loop runs dry. Pure bookkeeping: closing is a callback the connection gives.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <tuple>
#include <utility>

namespace sessiond {

class connection_registry {
public:
    using clock = std::chrono::steady_clock;
    using closer = std::function<void()>;

    // What a connection is doing, as far as the connection cap is concerned.
    enum class activity {
        idle,        // waiting for a request; since: when it began waiting
        reading,     // a request has begun and is not complete; since: its first byte
        responding,  // its response is being computed or written: never evicted
        closing,     // answered or refused for good, waiting only for the client to go away
    };

    // One connection's entry; leaving scope deregisters it.
    class membership {
    public:
        membership(connection_registry& r, std::uint64_t id) : registry_(&r), id_(id) {}
        membership(membership&& other) noexcept : registry_(std::exchange(other.registry_, nullptr)), id_(other.id_) {}
        membership& operator=(membership&&) = delete;
        membership(const membership&) = delete;
        membership& operator=(const membership&) = delete;
        ~membership();

        // What closes the connection: it may only cancel I/O (the connection's coroutine then ends).
        // Keep the membership in a scope nested inside everything the closer touches.
        void on_close(closer c);

        void idle(clock::time_point since) { set(activity::idle, since); }
        void reading(clock::time_point since) { set(activity::reading, since); }
        void responding() { set(activity::responding, {}); }
        void closing() { set(activity::closing, {}); }

    private:
        void set(activity what, clock::time_point since);

        connection_registry* registry_;
        std::uint64_t id_;
    };

    // The connection a new one would replace.
    struct eviction {
        std::uint64_t id = 0;
        activity what = activity::idle;
        clock::time_point since{};
    };

    // Counted from the moment of accepting, before the connection's coroutine first runs; idle since now.
    [[nodiscard]] membership add(clock::time_point now);

    // Runs every closer; the entries stay until their connections end.
    void close_all();

    // Which connection to give up for a new one: one that is closing anyway; else the one that has
    // kept the server waiting the longest, idle or in the middle of a request (the earliest `since`).
    // Idle and reading count alike so that a connection accepted a moment ago, which has not had the
    // time to send its request, is the last to go, not the first: otherwise every slow-loris client
    // that reconnects would close a probe before the probe's request is read. Never one that is
    // responding: its client has done nothing wrong and is about to be answered. O(log n).
    [[nodiscard]] std::optional<eviction> eviction_candidate() const;

    // Closes that connection and forgets it at once, so that its place is free before its coroutine
    // has ended. Nothing when every connection is responding.
    std::optional<eviction> evict_one();

    [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }

private:
    struct entry {
        closer close;
        activity what = activity::idle;
        clock::time_point since{};
    };
    // The eviction order: closing first, then by since; the id keeps keys unique (and the older first).
    using candidate_key = std::tuple<int, clock::time_point, std::uint64_t>;
    static std::optional<candidate_key> key_of(std::uint64_t id, const entry& e);

    void forget(std::map<std::uint64_t, entry>::iterator it);

    std::map<std::uint64_t, entry> entries_;
    std::set<candidate_key> candidates_;  // every entry that is not responding
    std::uint64_t next_id_ = 1;
};

std::string_view to_string(connection_registry::activity a) noexcept;

}  // namespace sessiond
