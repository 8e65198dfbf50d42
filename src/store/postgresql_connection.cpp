#include "postgresql_connection.hpp"

#include <fmt/format.h>

#include <array>

namespace sessiond::postgresql {

// "user@host:port/database": what a message may say about the server.
std::string describe(PGconn* conn) {
    const auto or_unknown = [](const char* s) { return s != nullptr && *s != '\0' ? std::string(s) : std::string("?"); };
    return fmt::format("postgresql {}@{}:{}/{}", or_unknown(PQuser(conn)), or_unknown(PQhost(conn)),
                       or_unknown(PQport(conn)), or_unknown(PQdb(conn)));
}

// libpq's messages end with a newline, sometimes several lines; the first line is the reason.
std::string first_line(const char* message) {
    std::string s = message != nullptr ? message : "";
    if (const auto nl = s.find('\n'); nl != std::string::npos) s.resize(nl);
    return s.empty() ? std::string("no reason given") : s;
}

PGconn* connect(const std::string& conninfo) {
    // Defaults first, then the operator's string: with expand_dbname, what it sets wins.
    const std::array<const char*, 9> keywords{"connect_timeout",     "keepalives", "keepalives_idle", "keepalives_interval",
                                              "keepalives_count",    "tcp_user_timeout", "application_name", "dbname",
                                              nullptr};
    const std::array<const char*, 9> values{"10", "1", "10", "5", "3", "30000", "ibkr-sessiond", conninfo.c_str(), nullptr};
    return PQconnectdbParams(keywords.data(), values.data(), 1);
}

}  // namespace sessiond::postgresql
