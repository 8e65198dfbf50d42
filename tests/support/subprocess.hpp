#pragma once
// A child process for black-box tests: stdin is /dev/null, stdout and stderr are drained by reader
// threads into buffers (the child never blocks on a full pipe), and waiting for output or for the
// exit blocks on a condition variable, never on a sleep.

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <sys/types.h>

namespace sessiond::testing {

enum class output_stream { out, err };

struct subprocess_options {
    std::vector<std::string> argv;  // argv[0] is the executable's path
    // Inherit the test's environment and apply the overrides (nullopt removes a variable), or
    // (inherit_environment = false) give the child exactly the overrides that have a value.
    bool inherit_environment = true;
    std::map<std::string, std::optional<std::string>> environment;
    std::optional<std::filesystem::path> working_directory;
};

class subprocess {
public:
    // Throws std::runtime_error when the process cannot be started.
    explicit subprocess(subprocess_options options);
    ~subprocess();  // SIGKILL if still running, then reap
    subprocess(const subprocess&) = delete;
    subprocess& operator=(const subprocess&) = delete;

    [[nodiscard]] pid_t pid() const noexcept { return pid_; }

    // The first complete line (without its '\n') of the stream that satisfies predicate, waiting up to
    // timeout for it; nullopt if none came (or the stream ended first).
    std::optional<std::string> wait_for_line(output_stream stream, const std::function<bool(std::string_view)>& predicate,
                                             std::chrono::milliseconds timeout);
    std::optional<std::string> wait_for_line(output_stream stream, std::string_view substring,
                                             std::chrono::milliseconds timeout);

    // Waits until predicate holds for everything the stream has printed so far; false at the timeout
    // or when the stream ended without it holding.
    bool wait_until(output_stream stream, const std::function<bool(std::string_view)>& predicate,
                    std::chrono::milliseconds timeout);
    [[nodiscard]] std::string output(output_stream stream) const;
    // stdout then stderr, for failure messages.
    [[nodiscard]] std::string all_output() const;

    // Does nothing once the process has exited (its pid may already belong to someone else).
    void send_signal(int signal);
    // The exit code, or 128 + signal number; nullopt if the process is still running after timeout.
    std::optional<int> wait_exit(std::chrono::milliseconds timeout);
    [[nodiscard]] bool running() const;

private:
    struct captured {
        std::string text;
        bool closed = false;
    };
    void drain(int fd, captured& into);
    void watch_exit();

    pid_t pid_ = -1;
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    captured out_;
    captured err_;
    std::optional<int> exit_code_;
    std::thread out_reader_;
    std::thread err_reader_;
    std::thread exit_watcher_;
};

}  // namespace sessiond::testing
