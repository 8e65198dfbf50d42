#pragma once
// The host-wide lock per IBKR username: at most one process on this host keeps (or tests) the
// session of one username at one IBKR endpoint, whatever its user, sandbox or state directory. Two
// daemons for one username end each other's SSO session every minute and never settle.
//
// The lock is a Linux abstract Unix socket ("\0ibkr-sessiond/<hash>"): binding it takes the lock,
// and the kernel frees the name when the holder's socket closes, even on kill -9, so there is no
// stale lock to clean up. Abstract names belong to the network namespace: every process sharing
// the host's network (systemd services with their own users and mount namespaces included) sees
// the same lock; a container with its own network namespace does not.
//
// The holder listens on the socket and answers whoever connects with one line of JSON saying who
// it is ({"pid":..,"api":"http://127.0.0.1:4257","version":..,"command":"run"}), then closes: that
// is how a refused daemon names the running one, and how `test-connection` finds the daemon to ask.

#include "sessiond/core/values.hpp"
#include "sessiond/core/error.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace sessiond {

// Who holds a username lock, as it says about itself.
struct lock_holder {
    std::optional<std::int64_t> pid;  // unknown when the holder did not answer in time
    std::string api;                  // "http://127.0.0.1:4257"; empty when it serves no API
    std::string version;
    std::string command;              // "run" (a daemon) or "test-connection"
};

// The abstract socket name (with its leading NUL byte) for one username at one IBKR endpoint: a
// hash, so the username never appears in clear. The username is compared ignoring ASCII case and
// the endpoint by host (ignoring case) and port.
std::string username_lock_name(std::string_view credential, const base_url& endpoint);

// The holder's answer: one line of JSON ending in '\n'.
std::string holder_line(const lock_holder& holder);
// The holder's answer read back; an error for anything else (then the holder counts as unknown).
expected<lock_holder> parse_holder_line(std::string_view line);

// "another ibkr-sessiond (pid 4242, version 1.0.0) keeps this IBKR username (the one in
// IBKR_CREDENTIAL) at https://api.ibkr.com: ask it, e.g. curl http://127.0.0.1:4257/api/ibkr/status".
// The username itself is never in it.
std::string describe_holder(const lock_holder& holder, const base_url& endpoint);

// "http://127.0.0.1:4257" for a listening address ("0.0.0.0" and "::" are asked on loopback).
std::string api_url(std::string_view host, std::uint16_t port);

class username_lock {
public:
    // Another process holds the lock: what it said about itself.
    struct held_elsewhere {
        lock_holder holder;
    };
    using attempt = std::variant<username_lock, held_elsewhere, error>;

    // Binds the name. Taken: the lock answers probes on `executor` until it is destroyed (the
    // executor's loop must run for that; nothing it does blocks). In use: asks the holder who it is,
    // waiting at most `probe_timeout` (a holder that does not answer is reported with pid unknown).
    // An error only when the socket cannot be made at all (e.g. AF_UNIX forbidden).
    static attempt acquire(const boost::asio::any_io_executor& executor, std::string name, lock_holder self,
                           std::chrono::milliseconds probe_timeout = std::chrono::seconds(1));

    // Asks whoever holds the name, waiting at most `timeout` (blocking: for start-up and the CLI).
    // nullopt when nobody holds it; a holder with no pid when it did not answer.
    static std::optional<lock_holder> probe(std::string_view name, std::chrono::milliseconds timeout);

    username_lock(username_lock&&) noexcept;
    username_lock& operator=(username_lock&&) noexcept;
    ~username_lock();  // releases the name

    [[nodiscard]] const std::string& name() const noexcept;
    // What the lock answers from now on (the API address is known only once the API is bound).
    void describe_self(lock_holder self);
    // How many probes it answered.
    [[nodiscard]] std::uint64_t answered() const noexcept;

private:
    struct state;
    explicit username_lock(std::shared_ptr<state> s);
    std::shared_ptr<state> state_;
};

}  // namespace sessiond
