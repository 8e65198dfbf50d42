#pragma once
// Many raw TCP connections to one loopback port at once, for tests that play a crowd of hostile
// clients: non-blocking connects, bytes queued per connection and written as the socket takes them,
// everything the server sends kept per connection, the server's close noticed as it happens. One
// epoll loop, turned by the calling thread in run_until(): a test paces its attack with deadlines and
// waits for what the server does, never with a sleep.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace sessiond::testing {

class connection_swarm {
public:
    using clock = std::chrono::steady_clock;

    enum class phase {
        connecting,        // connect() in progress (on a full accept queue, the kernel retries the SYN)
        open,              // connected, the server has not closed it
        closed_by_server,  // EOF or a reset after connecting; our end is closed too
        failed,            // the connect failed (refused, timed out)
    };

    struct connection {
        phase state = phase::connecting;
        int error = 0;            // errno of a failed connect, or ECONNRESET when the server reset it
        std::string received;     // everything the server sent
        std::size_t sent = 0;     // bytes written so far
        clock::time_point opened_at;
        clock::time_point connected_at;
        clock::time_point ended_at;
    };

    explicit connection_swarm(std::uint16_t port);
    ~connection_swarm();  // closes whatever is still open
    connection_swarm(const connection_swarm&) = delete;
    connection_swarm& operator=(const connection_swarm&) = delete;

    // Starts a non-blocking connect to 127.0.0.1:port; the index names the connection from now on.
    // Throws std::system_error when no socket can be had (EMFILE: raise RLIMIT_NOFILE first).
    std::size_t open();
    // Queues bytes: written once the connection is open, as fast as the socket takes them. Ignored
    // once the connection has ended.
    void send(std::size_t i, std::string_view bytes);
    // After what is queued, shuts down the sending side (the server reads EOF).
    void finish_sending(std::size_t i);

    // Handles socket events until done() holds or the deadline passes; returns done().
    bool run_until(const std::function<bool()>& done, clock::time_point deadline);
    // Handles socket events until the deadline: a pacing step of a timed attack.
    void run_until(clock::time_point deadline) { (void)run_until([] { return false; }, deadline); }

    [[nodiscard]] const connection& operator[](std::size_t i) const { return slots_.at(i).c; }
    [[nodiscard]] std::size_t size() const noexcept { return slots_.size(); }
    [[nodiscard]] std::size_t count(phase p) const noexcept { return counts_[static_cast<std::size_t>(p)]; }
    // Bytes queued for i and not yet written.
    [[nodiscard]] std::size_t unsent(std::size_t i) const { return slots_.at(i).pending.size(); }

private:
    struct slot {
        int fd = -1;
        connection c;
        std::string pending;
        bool finish = false;  // shut down the sending side once pending is written
        bool shut = false;
    };

    void on_events(std::size_t i, std::uint32_t events);
    void flush(std::size_t i);
    void receive(std::size_t i);
    void end(std::size_t i, phase how, int error);
    void set_phase(slot& s, phase p);

    int epoll_ = -1;
    std::uint16_t port_;
    std::vector<slot> slots_;
    std::array<std::size_t, 4> counts_{};
};

}  // namespace sessiond::testing
