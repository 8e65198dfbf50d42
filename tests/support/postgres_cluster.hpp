#pragma once
// A throwaway PostgreSQL 15 cluster for one test binary (Debian's postgresql-15): initdb in a
// temporary directory, the server on a Unix socket there only (no TCP port), fsync off. Started on
// first use, stopped when the binary exits; the server dies with the test binary even when that is
// killed (parent-death signal).
//
// initdb and the server refuse to run as root: as root they run as the "postgres" user the package
// creates (else "nobody"), through setpriv. Every test gets a database of its own.

#include "support/subprocess.hpp"
#include "support/temp_dir.hpp"

#include <memory>
#include <string>
#include <vector>

namespace sessiond::testing {

class postgres_cluster {
public:
    // The binary's cluster, started on the first call. Fails the calling test (and throws) when
    // PostgreSQL 15 is not installed: tests/run.sh installs it.
    static postgres_cluster& shared();

    ~postgres_cluster();
    postgres_cluster(const postgres_cluster&) = delete;
    postgres_cluster& operator=(const postgres_cluster&) = delete;

    // A new, empty database; its libpq connection string.
    std::string create_database();
    // A connection string for a database of this cluster.
    [[nodiscard]] std::string conninfo(const std::string& database) const;
    // Runs SQL in a database as the cluster's superuser (what a tampering operator could do);
    // throws with the server's message when it fails.
    void execute(const std::string& conninfo, const std::string& sql) const;
    // The server's process, for tests that stop or kill it.
    [[nodiscard]] subprocess& server() { return *server_; }
    // PostgreSQL stopped as an operator stops it (fast shutdown: every session ended, then the
    // server exits), and started again on the same data.
    void stop();
    void start();
    // The server's Unix socket, for a proxy in front of it.
    [[nodiscard]] std::string socket_path() const;

private:
    postgres_cluster();

    temp_dir dir_;
    std::vector<std::string> server_argv_;
    std::unique_ptr<subprocess> server_;
    int next_database_ = 0;
};

}  // namespace sessiond::testing
