#pragma once
// What systemd would receive on $NOTIFY_SOCKET, for tests: a real AF_UNIX datagram socket bound in
// a private temp dir, read by a thread that records each datagram with its arrival time and the
// sender's pid. Waiting blocks on a condition variable, never on a sleep.
//
//   notify_listener listener;
//   environment: NOTIFY_SOCKET=listener.path()
//   ASSERT_TRUE(listener.wait_for_count("READY=1", 1, 10s));

#include "support/temp_dir.hpp"

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <sys/types.h>

namespace sessiond::testing {

struct notify_message {
    std::string text;  // the datagram: one or more "KEY=value" lines
    std::chrono::steady_clock::time_point arrived;
    std::optional<pid_t> sender;  // from SCM_CREDENTIALS
};

// Lines (across all datagrams) that start with prefix: count_lines(m, "STATUS=").
std::size_t count_lines(const std::vector<notify_message>& messages, std::string_view prefix);

class notify_listener {
public:
    // Throws std::runtime_error when the socket cannot be set up.
    notify_listener();
    ~notify_listener();
    notify_listener(const notify_listener&) = delete;
    notify_listener& operator=(const notify_listener&) = delete;

    // An absolute path: the value for NOTIFY_SOCKET.
    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

    // Everything received so far, in arrival order.
    [[nodiscard]] std::vector<notify_message> messages() const;
    [[nodiscard]] std::size_t count(std::string_view prefix) const;

    // Waits until predicate holds for everything received so far; false if it still does not at
    // the timeout.
    bool wait_for(const std::function<bool(const std::vector<notify_message>&)>& predicate,
                  std::chrono::milliseconds timeout);
    // Waits until at least n lines starting with prefix have arrived.
    bool wait_for_count(std::string_view prefix, std::size_t n, std::chrono::milliseconds timeout);

private:
    void read_loop();

    temp_dir dir_;
    std::filesystem::path path_;
    int socket_ = -1;
    int wake_[2] = {-1, -1};  // a pipe: writing to it ends read_loop
    mutable std::mutex mutex_;
    std::condition_variable arrived_;
    std::vector<notify_message> messages_;
    std::thread reader_;
};

}  // namespace sessiond::testing
