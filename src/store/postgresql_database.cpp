#include "sessiond/store/postgresql_database.hpp"

#include "postgresql_connection.hpp"

#include <fmt/format.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

#include <libpq-fe.h>
#include <poll.h>

namespace sessiond {

namespace {

// Type OIDs of pg_type.dat: the ones the store's columns and aggregates have.
constexpr Oid bool_oid = 16;
constexpr Oid bytea_oid = 17;
constexpr Oid int8_oid = 20;
constexpr Oid int2_oid = 21;
constexpr Oid int4_oid = 23;
constexpr Oid text_oid = 25;
constexpr Oid varchar_oid = 1043;
constexpr Oid name_oid = 19;
constexpr Oid void_oid = 2278;

std::int64_t big_endian(const char* p, int bytes) {
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    // Sign-extend a 2- or 4-byte integer.
    if (bytes < 8 && (v >> (bytes * 8 - 1)) != 0) v |= ~std::uint64_t{0} << (bytes * 8);
    return static_cast<std::int64_t>(v);
}

std::array<char, 8> big_endian_bytes(std::int64_t value) {
    std::array<char, 8> out{};
    auto v = static_cast<std::uint64_t>(value);
    for (int i = 7; i >= 0; --i) {
        out[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xff);
        v >>= 8;
    }
    return out;
}

using postgresql::connect;
using postgresql::describe;
using postgresql::first_line;

bool is_error(const PGresult* r) {
    const auto status = PQresultStatus(r);
    return status == PGRES_BAD_RESPONSE || status == PGRES_FATAL_ERROR || status == PGRES_NONFATAL_ERROR;
}

}  // namespace

void postgresql_database::result_deleter::operator()(PGresult* r) const noexcept { PQclear(r); }

expected<postgresql_database::result_ptr> postgresql_database::answer(std::string_view operation, int sent,
                                                                      std::chrono::milliseconds within) {
    using clock = std::chrono::steady_clock;
    const auto give_up = [&](std::string reason) {
        gone_ = true;
        return failure(operation, reason);
    };
    if (sent == 0) return give_up(first_line(PQerrorMessage(conn_)));
    const auto deadline = clock::now() + within;
    result_ptr kept;
    for (;;) {
        while (PQisBusy(conn_) != 0) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
            if (left.count() <= 0)
                return give_up(fmt::format("no answer within {} s: the server, or the network to it, stopped "
                                           "answering; the connection is given up and made again",
                                           std::chrono::duration<double>(within).count()));
            pollfd fd{PQsocket(conn_), POLLIN, 0};
            if (::poll(&fd, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 1000))) < 0 && errno != EINTR)
                return give_up(fmt::format("poll: {}", std::strerror(errno)));
            if (PQconsumeInput(conn_) == 0) return give_up(first_line(PQerrorMessage(conn_)));
        }
        PGresult* r = PQgetResult(conn_);
        if (r == nullptr) break;
        if (!kept || !is_error(kept.get())) kept.reset(r);
        else PQclear(r);
    }
    if (!kept) return give_up(first_line(PQerrorMessage(conn_)));
    return kept;
}

expected<postgresql_database::result_ptr> postgresql_database::exec(std::string_view operation, const std::string& sql) {
    auto r = answer(operation, PQsendQuery(conn_, sql.c_str()));
    if (!r) return r;
    const auto status = PQresultStatus(r->get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) return failure(operation, r->get());
    return r;
}

expected<std::unique_ptr<postgresql_database>> postgresql_database::open(const std::string& conninfo,
                                                                          daemon_lock lock,
                                                                          std::chrono::milliseconds lock_wait,
                                                                          std::chrono::milliseconds answer_within) {
    PGconn* conn = connect(conninfo);
    if (conn == nullptr) return make_error("postgresql: cannot connect: out of memory");
    if (PQstatus(conn) != CONNECTION_OK) {
        auto e = make_error(fmt::format("database {}: cannot connect: {}", describe(conn), first_line(PQerrorMessage(conn))));
        PQfinish(conn);
        return e;
    }
    // libpq prints the server's notices on stderr ("relation ... already exists, skipping" of the
    // migrations' CREATE TABLE IF NOT EXISTS): nothing an operator needs, in the journal or after a
    // command's output.
    PQsetNoticeProcessor(conn, [](void*, const char*) {}, nullptr);
    std::unique_ptr<postgresql_database> out(
        new postgresql_database(conninfo, describe(conn), conn, lock, lock_wait, answer_within));
    if (lock != daemon_lock::none)
        if (auto locked = out->take_daemon_lock(); !locked) return locked.error();
    return out;
}

postgresql_database::~postgresql_database() { PQfinish(conn_); }

error postgresql_database::failure(std::string_view operation, std::string_view reason) const {
    return make_error(fmt::format("database {}: {}: {}", where_, operation, reason));
}

error postgresql_database::failure(std::string_view operation, const PGresult* result) const {
    // The primary message and the SQLSTATE; never the DETAIL, which can quote a row's values
    // ("Key (username)=(...) already exists").
    const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
    const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    return failure(operation, fmt::format("{} ({})", primary != nullptr ? std::string(primary) : first_line(PQerrorMessage(conn_)),
                                          state != nullptr ? state : "no SQLSTATE"));
}

expected<void> postgresql_database::take_daemon_lock() {
    const auto key = static_cast<std::int64_t>(serial_lock::one_daemon);
    const bool shared = lock_ == daemon_lock::replica;
    const auto refused = [this, shared] {
        return failure("one-daemon lock",
                       shared ? "an ibkr-sessiond without SESSIOND_REPLICA_ID serves this database (pg_stat_activity "
                                "shows it as application_name ibkr-sessiond): replicas share a database only with "
                                "each other; set SESSIOND_REPLICA_ID on every daemon of it"
                              : "another ibkr-sessiond serves this database (pg_stat_activity shows it as "
                                "application_name ibkr-sessiond): one daemon per database, or set "
                                "SESSIOND_REPLICA_ID on each so that they share the users by leases");
    };
    const std::string_view lock_function = shared ? "pg_advisory_lock_shared" : "pg_advisory_lock";
    if (lock_wait_.count() <= 0) {
        const std::array<sql_value, 1> p{key};
        auto taken = query("one-daemon lock", shared ? "SELECT pg_try_advisory_lock_shared($1)"
                                                      : "SELECT pg_try_advisory_lock($1)", p);
        if (!taken) return taken.error();
        const auto* got =
            taken->size() == 1 && taken->front().size() == 1 ? std::get_if<std::int64_t>(&taken->front()[0]) : nullptr;
        if (got == nullptr || *got != 1) return refused();
    } else {
        // The server waits for the holder to let go, up to lock_timeout (SQLSTATE 55P03 after it).
        const std::string set = fmt::format("SET lock_timeout = {}", lock_wait_.count());
        if (auto r = execute_script("one-daemon lock", set); !r) return r.error();
        const std::string take = fmt::format("SELECT {}({})", lock_function, key);
        auto r = answer("one-daemon lock", PQsendQuery(conn_, take.c_str()), lock_wait_ + answer_within_);
        if (!r) return r.error();
        (void)execute_script("one-daemon lock", "RESET lock_timeout");
        if (PQresultStatus(r->get()) != PGRES_TUPLES_OK) {
            const char* state = PQresultErrorField(r->get(), PG_DIAG_SQLSTATE);
            if (state != nullptr && std::string_view(state) == "55P03") return refused();
            return failure("one-daemon lock", r->get());
        }
    }
    holds_daemon_lock_ = true;
    return {};
}

expected<void> postgresql_database::ready() {
    if (gone_ || PQstatus(conn_) != CONNECTION_OK) {
        // The transactions queued behind an attempt that failed fail at once, with its reason,
        // instead of each waiting up to connect_timeout (a partition with thousands of sessions).
        const auto now = std::chrono::steady_clock::now();
        if (!connect_failure_.empty() && now - connect_failed_at_ < reconnect_every) return failure("connect", connect_failure_);
        gone_ = false;
        PQreset(conn_);
        statements_.clear();       // prepared statements belong to the connection that was lost
        holds_daemon_lock_ = false;  // and so did the lock
        if (PQstatus(conn_) != CONNECTION_OK) {
            connect_failure_ = fmt::format("the connection was lost and cannot be made again: {} (tried again at "
                                           "most every {} s)",
                                           first_line(PQerrorMessage(conn_)), reconnect_every.count());
            connect_failed_at_ = std::chrono::steady_clock::now();
            return failure("connect", connect_failure_);
        }
        connect_failure_.clear();
    }
    // Another daemon may have taken the lock while the connection was down: then this one writes
    // nothing more, and every call says why (and tries again).
    if (lock_ != daemon_lock::none && !holds_daemon_lock_) return take_daemon_lock();
    return {};
}

expected<const postgresql_database::statement*> postgresql_database::prepared(std::string_view operation,
                                                                              std::string_view sql,
                                                                              std::size_t param_count) {
    const std::string key(sql);
    if (auto found = statements_.find(key); found != statements_.end()) return &found->second;
    statement made{fmt::format("s{}", statements_.size() + 1), {}};
    auto r = answer(operation, PQsendPrepare(conn_, made.name.c_str(), key.c_str(), 0, nullptr));
    if (!r) return r.error();
    if (PQresultStatus(r->get()) != PGRES_COMMAND_OK) return failure(operation, r->get());
    // The server inferred each parameter's type from the statement: values are encoded for it.
    auto answered = answer(operation, PQsendDescribePrepared(conn_, made.name.c_str()));
    if (!answered) return answered.error();
    const PGresult* described = answered->get();
    if (PQresultStatus(described) != PGRES_COMMAND_OK) return failure(operation, described);
    // $1..$n each present, as SQLite's engine checks too.
    if (static_cast<std::size_t>(PQnparams(described)) != param_count)
        return failure(operation, fmt::format("the statement's parameters are not $1..${}", param_count));
    for (int i = 0; i < PQnparams(described); ++i) made.param_types.push_back(PQparamtype(described, i));
    return &statements_.emplace(key, std::move(made)).first->second;
}

namespace {

// The rows of a result in binary format, each column read by its type.
expected<std::vector<sql_row>> read_rows(const PGresult* r, std::string_view operation, const std::string& where) {
    const int rows = PQntuples(r);
    const int columns = PQnfields(r);
    std::vector<sql_row> out;
    out.reserve(static_cast<std::size_t>(rows));
    for (int i = 0; i < rows; ++i) {
        sql_row row;
        row.reserve(static_cast<std::size_t>(columns));
        for (int c = 0; c < columns; ++c) {
            if (PQgetisnull(r, i, c) != 0) {
                row.emplace_back(nullptr);
                continue;
            }
            const char* v = PQgetvalue(r, i, c);
            const int n = PQgetlength(r, i, c);
            const Oid type = PQftype(r, c);
            switch (type) {
            case int8_oid:
            case int4_oid:
            case int2_oid:
            case bool_oid:
                if (n != (type == int8_oid ? 8 : type == int4_oid ? 4 : type == int2_oid ? 2 : 1))
                    return make_error(fmt::format("database {}: {}: column {} has {} bytes for its integer type",
                                                  where, operation, c + 1, n));
                row.emplace_back(big_endian(v, n));
                break;
            case bytea_oid:
                row.emplace_back(byte_string(reinterpret_cast<const std::uint8_t*>(v),
                                             reinterpret_cast<const std::uint8_t*>(v) + n));
                break;
            case text_oid:
            case varchar_oid:
            case name_oid:
            case void_oid:  // SELECT pg_advisory_xact_lock(...) returns one
                row.emplace_back(std::string(v, static_cast<std::size_t>(n)));
                break;
            default:
                return make_error(fmt::format("database {}: {}: column {} has a type (oid {}) the store does not read",
                                              where, operation, c + 1, type));
            }
        }
        out.push_back(std::move(row));
    }
    return out;
}

}  // namespace

expected<std::vector<sql_row>> postgresql_database::run(std::string_view operation, std::string_view sql,
                                                        std::span<const sql_value> params, std::int64_t* changed) {
    auto stmt = prepared(operation, sql, params.size());
    if (!stmt) return stmt.error();
    const auto& types = (*stmt)->param_types;

    std::vector<std::string> encoded(params.size());
    std::vector<const char*> values(params.size(), nullptr);
    std::vector<int> lengths(params.size(), 0);
    std::vector<int> formats(params.size(), 0);
    for (std::size_t i = 0; i < params.size(); ++i) {
        const Oid type = types[i];
        const bool ok = std::visit(
            [&](const auto& v) {
                using V = std::decay_t<decltype(v)>;
                if constexpr (std::is_same_v<V, std::nullptr_t>) {
                    return true;
                } else if constexpr (std::is_same_v<V, std::int64_t>) {
                    const int width = type == int8_oid ? 8 : type == int4_oid ? 4 : type == int2_oid ? 2 : 0;
                    if (width == 0) {
                        encoded[i] = std::to_string(v);  // as text, for the server to read as its type
                    } else {
                        const auto bytes = big_endian_bytes(v);
                        encoded[i].assign(bytes.data() + (8 - width), static_cast<std::size_t>(width));
                        formats[i] = 1;
                    }
                    return true;
                } else if constexpr (std::is_same_v<V, std::string>) {
                    encoded[i] = v;
                    return true;
                } else {
                    if (type != bytea_oid) return false;
                    encoded[i].assign(reinterpret_cast<const char*>(v.data()), v.size());
                    formats[i] = 1;
                    return true;
                }
            },
            params[i]);
        if (!ok) return failure(operation, fmt::format("parameter ${} is bytes, but the statement wants type oid {}", i + 1, type));
        if (!std::holds_alternative<std::nullptr_t>(params[i])) {
            values[i] = encoded[i].data();
            lengths[i] = static_cast<int>(encoded[i].size());
        }
    }
    auto r = answer(operation, PQsendQueryPrepared(conn_, (*stmt)->name.c_str(), static_cast<int>(params.size()),
                                                   values.data(), lengths.data(), formats.data(), 1));
    if (!r) return r.error();
    const auto status = PQresultStatus(r->get());
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) return failure(operation, r->get());
    if (changed != nullptr) {
        const char* count = PQcmdTuples(r->get());
        *changed = count != nullptr && *count != '\0' ? std::strtoll(count, nullptr, 10) : 0;
    }
    return read_rows(r->get(), operation, where_);
}

expected<std::vector<sql_row>> postgresql_database::query(std::string_view operation, std::string_view sql,
                                                          std::span<const sql_value> params) {
    return run(operation, sql, params, nullptr);
}

expected<std::int64_t> postgresql_database::execute(std::string_view operation, std::string_view sql,
                                                    std::span<const sql_value> params) {
    std::int64_t changed = 0;
    if (auto r = run(operation, sql, params, &changed); !r) return r.error();
    return changed;
}

expected<void> postgresql_database::execute_script(std::string_view operation, std::string_view sql) {
    if (auto r = exec(operation, std::string(sql)); !r) return r.error();
    return {};
}

expected<void> postgresql_database::serialize(std::string_view operation, serial_lock lock) {
    const std::array<sql_value, 1> key{static_cast<std::int64_t>(lock)};
    if (auto r = query(operation, "SELECT pg_advisory_xact_lock($1)", key); !r) return r.error();
    return {};
}

expected<void> postgresql_database::transaction(const transaction_body& body) {
    if (auto connected = ready(); !connected) return connected.error();
    if (auto begun = execute_script("begin transaction", "BEGIN"); !begun) {
        // A connection the server ended (a restart, pg_terminate_backend) is found broken only
        // now. Nothing of this transaction ran yet: connect again and begin once more.
        // (One given up for want of an answer, still open, is made again at the next transaction,
        // not now: in a partition, connecting would only hold the thread until connect_timeout.)
        if (PQstatus(conn_) != CONNECTION_BAD) return begun.error();
        if (auto connected = ready(); !connected) return connected.error();
        if (auto retried = execute_script("begin transaction", "BEGIN"); !retried) return retried.error();
    }
    // Whatever way the body leaves (an error, an exception), an open transaction is rolled back;
    // on a connection given up, the server rolls it back when the connection closes.
    struct rollback_guard {
        postgresql_database& db;
        bool done = false;
        ~rollback_guard() {
            if (!done && !db.gone_ && PQtransactionStatus(db.conn_) != PQTRANS_IDLE)
                (void)db.exec("rollback", "ROLLBACK");
        }
    } guard{*this};
    if (auto done = body(*this); !done) return done.error();
    // A COMMIT that fails (or whose answer is lost) leaves the outcome to the server: the caller
    // is told it failed, and what it wrote may or may not be there.
    auto r = answer("commit", PQsendQuery(conn_, "COMMIT"));
    guard.done = true;
    if (!r) return r.error();
    if (PQresultStatus(r->get()) != PGRES_COMMAND_OK) return failure("commit", r->get());
    // COMMIT of a transaction in which a statement failed answers ROLLBACK, successfully.
    if (std::string_view(PQcmdStatus(r->get())) != "COMMIT")
        return failure("commit", "the server rolled the transaction back: a statement in it had failed");
    return {};
}

}  // namespace sessiond
