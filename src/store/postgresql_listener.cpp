#include "sessiond/store/postgresql_listener.hpp"

#include "postgresql_connection.hpp"

#include <boost/asio/post.hpp>

#include <fmt/format.h>

#include <chrono>

#include <libpq-fe.h>
#include <poll.h>

namespace sessiond {

namespace {

constexpr int poll_ms = 250;
// A connection quiet this long is asked a question (SELECT 1), which must be answered within as long:
// a partition behind a proxy closes nothing, and keepalives see nothing wrong.
constexpr auto check_after = std::chrono::seconds(10);

// Sleeps `ms` in poll-sized steps, or less when stopping.
void pause(const std::atomic<bool>& stopping, int ms) {
    for (int waited = 0; waited < ms && !stopping.load(); waited += poll_ms) ::poll(nullptr, 0, poll_ms);
}

}  // namespace

postgresql_listener::postgresql_listener(secret conninfo, std::string channel, boost::asio::any_io_executor executor,
                                         heard_function heard, std::function<void()> reconnected, logger log)
    : conninfo_(std::move(conninfo)),
      channel_(std::move(channel)),
      executor_(std::move(executor)),
      heard_(std::move(heard)),
      reconnected_(std::move(reconnected)),
      log_(std::move(log)),
      thread_([this] { run(); }) {}

postgresql_listener::~postgresql_listener() {
    stopping_ = true;
    thread_.join();
}

void postgresql_listener::run() {
    bool connected_before = false;
    bool failing = false;  // said once per outage
    while (!stopping_) {
        PGconn* conn = postgresql::connect(std::string(conninfo_.reveal()));
        PQsetNoticeProcessor(conn, [](void*, const char*) {}, nullptr);
        bool listening = PQstatus(conn) == CONNECTION_OK;
        if (listening) {
            // The channel is the daemon's own constant: no quoting needed beyond the identifier's.
            const std::string listen = "LISTEN \"" + channel_ + "\"";
            PGresult* r = PQexec(conn, listen.c_str());
            listening = PQresultStatus(r) == PGRES_COMMAND_OK;
            PQclear(r);
        }
        if (!listening) {
            if (!std::exchange(failing, true))
                log_.warn({}, "replicas: listening for other replicas' changes on {}: {}; trying again every second",
                          postgresql::describe(conn), postgresql::first_line(PQerrorMessage(conn)));
            PQfinish(conn);
            pause(stopping_, 1000);
            continue;
        }
        failing = false;
        if (std::exchange(connected_before, true))
            boost::asio::post(executor_, [f = reconnected_] {
                if (f) f();
            });
        using clock = std::chrono::steady_clock;
        auto heard_at = clock::now();
        bool asking = false;  // the check sent, not answered yet
        clock::time_point asked_at;
        std::string lost;
        while (!stopping_) {
            pollfd fd{PQsocket(conn), POLLIN, 0};
            if (::poll(&fd, 1, poll_ms) < 0) continue;
            const auto now = clock::now();
            if ((fd.revents & POLLIN) != 0) heard_at = now;
            if (PQconsumeInput(conn) == 0) {  // the connection is gone: made again above
                lost = postgresql::first_line(PQerrorMessage(conn));
                break;
            }
            while (PGnotify* n = PQnotifies(conn)) {
                boost::asio::post(executor_, [f = heard_, payload = std::string(n->extra)] { f(payload); });
                PQfreemem(n);
            }
            while (asking && PQisBusy(conn) == 0) {
                PGresult* r = PQgetResult(conn);
                if (r == nullptr) asking = false;
                PQclear(r);
            }
            if (asking && now - asked_at > check_after) {
                lost = fmt::format("no answer to a check within {} s", check_after.count());
                break;
            }
            if (!asking && now - heard_at > check_after) {
                if (PQsendQuery(conn, "SELECT 1") == 0) {
                    lost = postgresql::first_line(PQerrorMessage(conn));
                    break;
                }
                asking = true;
                asked_at = now;
            }
        }
        if (!stopping_)
            log_.warn({}, "replicas: the listening connection to {} was lost: {}; making it again",
                      postgresql::describe(conn), lost);
        PQfinish(conn);
        if (!stopping_) pause(stopping_, 1000);
    }
}

}  // namespace sessiond
