#include "support/postgres_cluster.hpp"

#include <gtest/gtest.h>

#include <libpq-fe.h>

#include <pwd.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <stdexcept>
#include <vector>

namespace sessiond::testing {

namespace {

using namespace std::chrono_literals;

const std::filesystem::path bin_dir = "/usr/lib/postgresql/15/bin";
constexpr const char* superuser = "sessiond_test";
constexpr const char* port = "5432";  // only names the socket file: there is no TCP listener

// argv run as an unprivileged user when the tests run as root; the server and initdb refuse root.
std::vector<std::string> as_cluster_owner(std::vector<std::string> argv, std::string_view owner) {
    if (::geteuid() != 0) return argv;
    std::vector<std::string> out{"/usr/bin/setpriv", "--reuid=" + std::string(owner), "--regid=" + std::string(owner),
                                 "--init-groups", "--pdeathsig=KILL", "--"};
    out.insert(out.end(), argv.begin(), argv.end());
    return out;
}

// The package's "postgres" user, or "nobody" where the package did not make one.
std::string owner_name() {
    for (const char* name : {"postgres", "nobody"})
        if (::getpwnam(name) != nullptr) return name;
    throw std::runtime_error("neither a postgres nor a nobody user exists to run the test cluster as");
}

void give_to(const std::filesystem::path& dir, const std::string& owner) {
    const passwd* pw = ::getpwnam(owner.c_str());
    if (pw == nullptr || ::chown(dir.c_str(), pw->pw_uid, pw->pw_gid) != 0)
        throw std::runtime_error("cannot give " + dir.string() + " to " + owner);
}

}  // namespace

postgres_cluster& postgres_cluster::shared() {
    static postgres_cluster cluster;
    return cluster;
}

postgres_cluster::postgres_cluster() {
    if (!std::filesystem::exists(bin_dir / "postgres")) {
        ADD_FAILURE() << "PostgreSQL 15 is not installed (" << (bin_dir / "postgres").string()
                      << "): apt-get install postgresql-15, as tests/run.sh does";
        throw std::runtime_error("PostgreSQL 15 is not installed");
    }
    const std::string owner = ::geteuid() == 0 ? owner_name() : "";
    if (!owner.empty()) give_to(dir_.path(), owner);
    const auto data = dir_.path() / "data";

    subprocess_options initdb_options;
    initdb_options.argv = as_cluster_owner({(bin_dir / "initdb").string(), "-D", data.string(), "-U", superuser, "-A",
                                            "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"},
                                           owner);
    subprocess initdb(std::move(initdb_options));
    const auto code = initdb.wait_exit(120s);
    if (code != 0) {
        ADD_FAILURE() << "initdb failed:\n" << initdb.all_output();
        throw std::runtime_error("initdb failed");
    }
    server_argv_ = as_cluster_owner({(bin_dir / "postgres").string(), "-D", data.string(), "-k", dir_.path().string(),
                                     "-p", port, "-c", "listen_addresses=", "-c", "fsync=off", "-c",
                                     "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200"},
                                    owner);
    start();
}

void postgres_cluster::stop() {
    server_->send_signal(SIGINT);
    if (!server_->wait_exit(60s)) ADD_FAILURE() << "the test PostgreSQL did not stop:\n" << server_->all_output();
}

std::string postgres_cluster::socket_path() const { return (dir_.path() / (std::string(".s.PGSQL.") + port)).string(); }

void postgres_cluster::start() {
    subprocess_options server_options;
    server_options.argv = server_argv_;
    server_ = std::make_unique<subprocess>(std::move(server_options));
    // The server says so on stderr once it accepts connections (a LOG line, printed by default).
    if (!server_->wait_for_line(output_stream::err, "ready to accept connections", 60s)) {
        ADD_FAILURE() << "the test PostgreSQL did not start:\n" << server_->all_output();
        throw std::runtime_error("the test PostgreSQL did not start");
    }
}

postgres_cluster::~postgres_cluster() {
    if (server_ && server_->running()) {
        // Immediate shutdown: the server tells its backends to quit, then exits.
        server_->send_signal(SIGQUIT);
        server_->wait_exit(30s);
    }
}

std::string postgres_cluster::conninfo(const std::string& database) const {
    return "host=" + dir_.path().string() + " port=" + port + " user=" + superuser + " dbname=" + database;
}

std::string postgres_cluster::create_database() {
    const std::string name = "test_" + std::to_string(::getpid()) + "_" + std::to_string(++next_database_);
    execute(conninfo("postgres"), "CREATE DATABASE " + name);
    return conninfo(name);
}

void postgres_cluster::execute(const std::string& conninfo, const std::string& sql) const {
    PGconn* conn = PQconnectdb(conninfo.c_str());
    if (PQstatus(conn) != CONNECTION_OK) {
        const std::string message = PQerrorMessage(conn);
        PQfinish(conn);
        throw std::runtime_error("cannot connect to the test PostgreSQL: " + message);
    }
    PGresult* r = PQexec(conn, sql.c_str());
    const auto status = PQresultStatus(r);
    const std::string message = PQresultErrorMessage(r);
    PQclear(r);
    PQfinish(conn);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
        throw std::runtime_error("test PostgreSQL: " + sql + ": " + message);
}

}  // namespace sessiond::testing
