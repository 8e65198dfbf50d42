#pragma once
// LISTEN on a PostgreSQL channel for the replicas (issue 13): what one replica changes in the
// database (a user's token, a credential: credential_store's announce_user, sent as NOTIFY when the
// change commits), the others hear at once instead of at their next take-over.
//
// A connection of its own on a thread of its own: the thread waits on the connection's socket
// (poll, a quarter second at most, so that it notices the stop) and hands each notification's
// payload to `heard` on the daemon's loop. A lost connection is made again a second later;
// notifications sent meanwhile are missed, and `reconnected` is called on the loop once it is back
// (what the caller re-reads then is its business). The event loop never waits for any of it.

#include "sessiond/core/secret.hpp"
#include "sessiond/log/log.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <atomic>
#include <functional>
#include <string>
#include <thread>

namespace sessiond {

class postgresql_listener {
public:
    using heard_function = std::function<void(std::string payload)>;
    postgresql_listener(secret conninfo, std::string channel, boost::asio::any_io_executor executor,
                        heard_function heard, std::function<void()> reconnected, logger log);
    // Stops the thread (within a quarter second) and closes the connection.
    ~postgresql_listener();
    postgresql_listener(const postgresql_listener&) = delete;
    postgresql_listener& operator=(const postgresql_listener&) = delete;

private:
    void run();

    secret conninfo_;
    std::string channel_;
    boost::asio::any_io_executor executor_;
    heard_function heard_;
    std::function<void()> reconnected_;
    logger log_;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

}  // namespace sessiond
