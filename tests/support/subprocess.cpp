#include "support/subprocess.hpp"

#include "support/sanitizers.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>

extern char** environ;

namespace sessiond::testing {

namespace {

struct pipe_pair {
    int read = -1;
    int write = -1;
};

pipe_pair make_pipe() {
    std::array<int, 2> fds{};
    if (::pipe2(fds.data(), O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
    return {fds[0], fds[1]};
}

std::vector<std::string> build_environment(const subprocess_options& options) {
    std::map<std::string, std::string> env;
    if (options.inherit_environment) {
        for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
            const std::string_view entry(*e);
            const auto eq = entry.find('=');
            if (eq != std::string_view::npos) env[std::string(entry.substr(0, eq))] = std::string(entry.substr(eq + 1));
        }
    }
    for (const auto& [name, value] : options.environment) {
        if (value)
            env[name] = *value;
        else
            env.erase(name);
    }
    std::vector<std::string> out;
    out.reserve(env.size());
    for (const auto& [name, value] : env) out.push_back(name + "=" + value);
    return out;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
    std::vector<char*> out;
    out.reserve(strings.size() + 1);
    for (auto& s : strings) out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}

// The first complete line of text that satisfies predicate.
std::optional<std::string> find_line(const std::string& text, const std::function<bool(std::string_view)>& predicate) {
    std::size_t start = 0;
    for (auto end = text.find('\n'); end != std::string::npos; end = text.find('\n', start)) {
        const std::string_view line(text.data() + start, end - start);
        if (predicate(line)) return std::string(line);
        start = end + 1;
    }
    return std::nullopt;
}

}  // namespace

subprocess::subprocess(subprocess_options options) {
    if (options.argv.empty()) throw std::invalid_argument("subprocess needs argv[0]");
    pipe_pair out = make_pipe();
    pipe_pair err = make_pipe();

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out.write, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err.write, STDERR_FILENO);
    if (options.working_directory)
        posix_spawn_file_actions_addchdir_np(&actions, options.working_directory->c_str());

    // The child starts with nothing blocked and no inherited SIG_IGN, whatever the test runner did.
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    sigset_t none;
    sigset_t reset;
    sigemptyset(&none);
    sigemptyset(&reset);
    for (const int s : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2}) sigaddset(&reset, s);
    posix_spawnattr_setsigmask(&attributes, &none);
    posix_spawnattr_setsigdefault(&attributes, &reset);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    std::vector<std::string> argv_strings = options.argv;
    std::vector<std::string> env_strings = build_environment(options);
    std::vector<char*> argv = c_strings(argv_strings);
    std::vector<char*> envp = c_strings(env_strings);
    const int rc = ::posix_spawn(&pid_, argv[0], &actions, &attributes, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    ::close(out.write);
    ::close(err.write);
    if (rc != 0) {
        ::close(out.read);
        ::close(err.read);
        throw std::runtime_error("cannot start " + options.argv[0] + ": " + std::strerror(rc));
    }
    out_reader_ = std::thread([this, fd = out.read] { drain(fd, out_); });
    err_reader_ = std::thread([this, fd = err.read] { drain(fd, err_); });
    exit_watcher_ = std::thread([this] { watch_exit(); });
}

subprocess::~subprocess() {
    send_signal(SIGKILL);
    if (exit_watcher_.joinable()) exit_watcher_.join();
    if (out_reader_.joinable()) out_reader_.join();
    if (err_reader_.joinable()) err_reader_.join();
}

void subprocess::drain(int fd, captured& into) {
    std::array<char, 4096> chunk{};
    for (;;) {
        const ssize_t n = ::read(fd, chunk.data(), chunk.size());
        if (n < 0 && errno == EINTR) continue;
        std::lock_guard lock(mutex_);
        if (n <= 0) {
            into.closed = true;
            changed_.notify_all();
            break;
        }
        into.text.append(chunk.data(), static_cast<std::size_t>(n));
        changed_.notify_all();
    }
    ::close(fd);
}

void subprocess::watch_exit() {
    // Learn of the exit without reaping (WNOWAIT), mark it under the lock, then reap: send_signal()
    // can never hit a recycled pid.
    siginfo_t info{};
    while (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOWAIT) != 0 && errno == EINTR) {
    }
    std::lock_guard lock(mutex_);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    changed_.notify_all();
}

std::optional<std::string> subprocess::wait_for_line(output_stream stream,
                                                     const std::function<bool(std::string_view)>& predicate,
                                                     std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    const captured& c = stream == output_stream::out ? out_ : err_;
    std::optional<std::string> found;
    changed_.wait_for(lock, patience(timeout), [&] {
        found = find_line(c.text, predicate);
        return found.has_value() || c.closed;
    });
    return found;
}

std::optional<std::string> subprocess::wait_for_line(output_stream stream, std::string_view substring,
                                                     std::chrono::milliseconds timeout) {
    const std::string needle(substring);
    return wait_for_line(
        stream, [&](std::string_view line) { return line.find(needle) != std::string_view::npos; }, timeout);
}

bool subprocess::wait_until(output_stream stream, const std::function<bool(std::string_view)>& predicate,
                            std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    const captured& c = stream == output_stream::out ? out_ : err_;
    bool holds = false;
    changed_.wait_for(lock, patience(timeout), [&] {
        holds = predicate(c.text);
        return holds || c.closed;
    });
    return holds;
}

std::string subprocess::output(output_stream stream) const {
    std::lock_guard lock(mutex_);
    return stream == output_stream::out ? out_.text : err_.text;
}

std::string subprocess::all_output() const {
    std::lock_guard lock(mutex_);
    return "--- stdout ---\n" + out_.text + "--- stderr ---\n" + err_.text;
}

void subprocess::send_signal(int signal) {
    std::lock_guard lock(mutex_);
    if (pid_ > 0 && !exit_code_) ::kill(pid_, signal);
}

std::optional<int> subprocess::wait_exit(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, patience(timeout), [&] { return exit_code_.has_value(); });
    return exit_code_;
}

bool subprocess::running() const {
    std::lock_guard lock(mutex_);
    return !exit_code_;
}

}  // namespace sessiond::testing
