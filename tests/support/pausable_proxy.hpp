#pragma once
// A TCP proxy on 127.0.0.1 (a port of its own) to a Unix socket, on its own thread, that can stop
// forwarding without closing anything: what a network partition looks like from either end (no
// byte arrives, no connection fails, the kernel still accepts connections), then forward again
// (the partition heals: what was held goes through). Unprivileged, unlike network namespaces.

#include <atomic>
#include <cstddef>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sessiond::testing {

class pausable_proxy {
public:
    // Forwards each connection made to port() to a new connection to `unix_path`.
    explicit pausable_proxy(std::string unix_path);
    ~pausable_proxy();
    pausable_proxy(const pausable_proxy&) = delete;
    pausable_proxy& operator=(const pausable_proxy&) = delete;

    [[nodiscard]] unsigned short port() const noexcept { return port_; }
    // The partition: nothing is read, accepted or forwarded until resume().
    void pause();
    void resume();
    // Connections accepted so far.
    [[nodiscard]] std::size_t accepted() const noexcept { return accepted_.load(); }

private:
    void run();
    void wake();

    std::string target_;
    int listener_ = -1;
    unsigned short port_ = 0;
    int wake_[2] = {-1, -1};
    std::atomic<bool> paused_{false};
    std::atomic<bool> stopping_{false};
    std::atomic<std::size_t> accepted_{0};
    std::thread thread_;
};

}  // namespace sessiond::testing
