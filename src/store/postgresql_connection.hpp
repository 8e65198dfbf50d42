#pragma once
// What the store's PostgreSQL connections share (the store's own, postgresql_database; the
// replicas' listener, postgresql_listener): how one is made, and how a message names the server.
// Private to store/.

#include <string>

#include <libpq-fe.h>

namespace sessiond::postgresql {

// libpq's connection with the store's defaults under the operator's string (connect timeout, TCP
// keepalives, application_name ibkr-sessiond); check PQstatus.
PGconn* connect(const std::string& conninfo);
// "postgresql user@host:port/database": what a message may say about the server, never a password.
std::string describe(PGconn* conn);
// The first line of libpq's message (the reason).
std::string first_line(const char* message);

}  // namespace sessiond::postgresql
