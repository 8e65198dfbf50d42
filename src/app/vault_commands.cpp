#include "sessiond/app/vault_commands.hpp"

#include "sessiond/app/database_target.hpp"

#include "sessiond/users/sealed_key.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/object.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <map>
#include <memory>
#include <string_view>
#include <system_error>

namespace sessiond {

namespace asio = boost::asio;

namespace {

std::string credentials_text(std::int64_t n) { return fmt::format("{} credential{}", n, n == 1 ? "" : "s"); }

std::string_view failure_name(record_failure kind) {
    switch (kind) {
        case record_failure::malformed: return "malformed";
        case record_failure::unknown_key_version: return "unknown key version";
        case record_failure::tampered: return "tampered";
        case record_failure::internal: return "internal";
    }
    return "internal";
}

// The settings that say where the database is; the others are not these commands' business.
bool places_the_database(std::string_view variable) {
    return variable == "--env-file" || variable == "SESSIOND_STATE_DIR" || variable == "SESSIOND_DATABASE" ||
           variable == "SESSIOND_MASTER_KEY_FILE";
}

std::int64_t system_unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

// ---- keys status ------------------------------------------------------------------------------

std::vector<key_version_status> key_status_of(const master_keyring& keyring,
                                              std::span<const key_version_count> in_database) {
    std::map<std::int64_t, key_version_status> by_version;
    for (const std::uint32_t v : keyring.versions())
        by_version[v] = {.version = v, .loaded = true, .current = v == keyring.current_version()};
    for (const key_version_count& c : in_database) {
        key_version_status& s = by_version[c.key_version];
        s.version = c.key_version;
        s.credentials = c.credentials;
    }
    std::vector<key_version_status> out;
    for (auto& entry : by_version) out.push_back(entry.second);
    return out;
}

std::string format_key_status(std::span<const key_version_status> versions) {
    std::string out;
    std::vector<std::int64_t> retirable;
    for (const key_version_status& s : versions) {
        if (s.current) out += fmt::format("current master key version: {}\n", s.version);
    }
    for (const key_version_status& s : versions) {
        out += fmt::format("  version {}: {}, seals {}", s.version,
                           s.current ? "loaded, current" : (s.loaded ? "loaded" : "not loaded"),
                           credentials_text(s.credentials));
        if (!s.loaded && s.credentials > 0)
            out += fmt::format(": they cannot be opened until version {} is loaded", s.version);
        else if (!s.current && s.credentials > 0)
            out += ": to rewrap (ibkr-sessiond keys rewrap)";
        else if (!s.current) {
            out += ": can be retired";
            retirable.push_back(s.version);
        }
        out += "\n";
    }
    if (retirable.empty()) return out + "can be retired: none\n";
    return out + fmt::format("can be retired: version {} (its audit entries can then no longer be verified: "
                             "audit verify reports them, and accepts them with --allow-unverifiable)\n",
                             fmt::join(retirable, ", "));
}

// ---- keys rewrap ------------------------------------------------------------------------------

std::string format_rewrap_summary(const rewrap_tally& tally) {
    return fmt::format("keys rewrap: {} rewrapped to master key version {}, {} skipped (changed meanwhile), {} failed{}\n",
                       tally.rewrapped, tally.to_version, tally.skipped, tally.failed.size(),
                       tally.failed.empty() ? "" : " (left as they were, listed above)");
}

expected<rewrap_step_result> rewrap_credential(store_tx& tx, const master_keyring& keyring, const credential_row& row,
                                               std::int64_t at_ms) {
    const std::uint32_t to = keyring.current_version();
    audit_event event{.actor = "admin",
                      .source = "local",
                      .action = "key.rewrap",
                      .target = row.user_id,
                      .outcome = "ok",
                      .details = {{"from_key_version", row.key_version},
                                  {"to_key_version", to},
                                  {"key_fingerprint", row.key_fingerprint}}};
    const std::string_view record(reinterpret_cast<const char*>(row.key_record.data()), row.key_record.size());
    auto rewrapped = rewrap_record(keyring, key_record_binding(row), record, to);
    if (!rewrapped) {
        event.outcome = "failed";
        event.details["reason"] = failure_name(rewrapped.error().kind);
        if (auto audited = append_audit_event(tx, keyring, event, at_ms); !audited) return audited.error();
        return rewrap_step_result{rewrap_step::failed, rewrapped.error().message};
    }
    const byte_string bytes(rewrapped->begin(), rewrapped->end());
    const auto written = tx.update_key_record(row.user_id, row.etag, bytes, to);
    if (!written) return written.error();
    if (!*written) return rewrap_step_result{rewrap_step::changed_meanwhile, {}};
    if (auto audited = append_audit_event(tx, keyring, event, at_ms); !audited) return audited.error();
    return rewrap_step_result{rewrap_step::rewrapped, {}};
}

expected<rewrap_step_result> rewrap_row(store_tx& tx, const master_keyring& keyring, const credential_row& row,
                                        std::int64_t at_ms) {
    auto as_read = rewrap_credential(tx, keyring, row, at_ms);
    if (!as_read || as_read->step != rewrap_step::changed_meanwhile) return as_read;
    // This transaction holds the write lock: what it reads now stays so until it commits.
    const auto fresh = tx.find_credential(row.user_id);
    if (!fresh) return fresh.error();
    if (!*fresh || (*fresh)->key_version >= keyring.current_version()) return rewrap_step_result{rewrap_step::skipped, {}};
    auto as_now = rewrap_credential(tx, keyring, **fresh, at_ms);
    if (as_now && as_now->step == rewrap_step::changed_meanwhile)  // cannot happen under the lock
        return make_error("the credential of " + row.user_id + " changed under the write lock");
    return as_now;
}

asio::awaitable<expected<rewrap_tally>> rewrap_all(credential_store& store, const master_keyring& keyring,
                                                   unix_ms_clock now_ms,
                                                   std::function<void(const rewrap_failure&)> on_failure,
                                                   std::size_t page) {
    rewrap_tally tally;
    tally.to_version = keyring.current_version();
    auto list = [](store_tx& tx) { return tx.list_key_versions(); };
    const auto versions = co_await store.transact(std::move(list));
    if (!versions) co_return versions.error();
    for (const key_version_count& version : *versions) {
        if (version.key_version >= tally.to_version) continue;
        std::string after;  // rows that fail stay under this version: the page moves past them
        for (;;) {
            auto read = [v = version.key_version, after, page](store_tx& tx) {
                return tx.credentials_with_key_version(v, after, page);
            };
            auto rows = co_await store.transact(std::move(read));
            if (!rows) co_return rows.error();
            if (rows->empty()) break;
            for (const credential_row& row : *rows) {
                after = row.user_id;
                // By reference: this frame keeps them alive while the transaction runs.
                auto step = [&keyring, &row, &now_ms](store_tx& tx) { return rewrap_row(tx, keyring, row, now_ms()); };
                const auto done = co_await store.transact(std::move(step));
                if (!done) co_return done.error();
                switch (done->step) {
                    case rewrap_step::rewrapped: ++tally.rewrapped; break;
                    case rewrap_step::skipped: ++tally.skipped; break;
                    case rewrap_step::changed_meanwhile:  // rewrap_row reads it again: never left like this
                    case rewrap_step::failed:
                        tally.failed.push_back({row.user_id, done->reason});
                        if (on_failure) on_failure(tally.failed.back());
                        break;
                }
            }
        }
    }
    co_return tally;
}

// ---- audit verify -----------------------------------------------------------------------------

command_report audit_verify_report(const audit_log_verdict& verdict, bool allow_unverifiable) {
    command_report out;
    std::int64_t unverifiable = 0;
    for (const unverifiable_entries& run : verdict.unverifiable) {
        unverifiable += run.count();
        const std::string which = run.count() == 1 ? fmt::format("audit entry seq {}", run.first_seq)
                                                   : fmt::format("audit entries seq {} to {} ({})", run.first_seq,
                                                                 run.last_seq, run.count());
        out.text += fmt::format("{}: cannot be verified: MAC'd under master key version {}, which is not loaded\n",
                                which, run.key_version);
    }
    if (!verdict.chain.intact()) {
        out.exit_code = exit_failure;
        out.text += fmt::format("audit log broken at seq {}: {}\n", verdict.chain.bad_seq, verdict.chain.message);
        return out;
    }
    if (unverifiable == 0) {
        out.text += fmt::format("audit log intact: {} entries\n", verdict.entries);
        return out;
    }
    if (allow_unverifiable) {
        out.text += fmt::format("audit log intact: {} entries, of which {} could not be verified "
                                "(--allow-unverifiable)\n",
                                verdict.entries, unverifiable);
        return out;
    }
    out.exit_code = exit_failure;
    out.text += fmt::format("audit log not verified: {} of {} entries are MAC'd under master key versions that are "
                            "not loaded (retired?); load those versions to verify them, or pass "
                            "--allow-unverifiable to accept the rest of the log as verified\n",
                            unverifiable, verdict.entries);
    return out;
}

// ---- the commands -----------------------------------------------------------------------------

namespace {

asio::awaitable<int> keys_status(credential_store& store, const master_keyring& keyring, std::ostream& out) {
    auto list = [](store_tx& tx) { return tx.list_key_versions(); };
    const auto counts = co_await store.transact(std::move(list));
    if (!counts) {
        out << "keys status: " << counts.error().message << "\n";
        co_return exit_failure;
    }
    out << format_key_status(key_status_of(keyring, *counts));
    co_return exit_ok;
}

asio::awaitable<int> keys_rewrap(credential_store& store, const master_keyring& keyring, std::ostream& out) {
    std::function<void(const rewrap_failure&)> report = [&out](const rewrap_failure& f) {
        out << "user " << f.user_id << ": not rewrapped: " << f.reason << "\n" << std::flush;
    };
    const unix_ms_clock clock = system_unix_ms;
    const auto tally = co_await rewrap_all(store, keyring, clock, std::move(report));
    if (!tally) {
        out << "keys rewrap: stopped: " << tally.error().message << "\n";
        co_return exit_failure;
    }
    out << format_rewrap_summary(*tally);
    co_return tally->failed.empty() ? exit_ok : exit_failure;
}

asio::awaitable<int> audit_verify(credential_store& store, const master_keyring& keyring, bool allow_unverifiable,
                                  std::ostream& out) {
    // A transaction per page: however long the log, the daemon's writes wait one page at most.
    audit_log_verdict verdict;
    for (bool more = true; more;) {
        auto next = [&keyring, &verdict](store_tx& tx) { return verify_audit_page(tx, keyring, verdict); };
        const auto read = co_await store.transact(std::move(next));
        if (!read) {
            out << "audit verify: " << read.error().message << "\n";
            co_return exit_failure;
        }
        more = *read;
    }
    const command_report report = audit_verify_report(verdict, allow_unverifiable);
    out << report.text;
    co_return report.exit_code;
}

using store_command = std::function<asio::awaitable<int>(credential_store&)>;

asio::awaitable<int> with_store(credential_store::database_opener opener, std::ostream& err, store_command body) {
    auto opened = co_await credential_store::open(std::move(opener));
    if (!opened) {
        err << opened.error().message << "\n";
        co_return exit_failure;
    }
    // Closed when this returns, before the loop that its last results are posted to.
    const std::unique_ptr<credential_store> store = std::move(*opened);
    co_return co_await body(*store);
}

// The loop of a one-shot command: runs until the command is done.
int run_on_store(credential_store::database_opener opener, std::ostream& err, store_command body) {
    asio::io_context io;
    int code = exit_failure;
    asio::co_spawn(io, with_store(std::move(opener), err, std::move(body)), [&code](std::exception_ptr e, int c) {
        if (e) std::rethrow_exception(e);
        code = c;
    });
    io.run();
    return code;
}

}  // namespace

int run_vault_command(const command_line& cli, config_report report, const keyring_environment& keys,
                      std::ostream& out, std::ostream& err) {
    bool placed = true;
    for (const config_problem& p : report.problems) {
        if (!places_the_database(p.variable)) continue;
        err << p.variable << ": " << p.message << "\n";
        placed = false;
    }
    if (!placed) return exit_config;

    // SESSIOND_MASTER_KEY_FILE as the settings read it: the environment, or the env file.
    keyring_environment where = keys;
    if (report.values.master_key_file) where.master_key_file = report.values.master_key_file->string();
    const auto keyring = load_master_keyring_from_environment(where);
    if (!keyring) {
        err << "master key: " << keyring.error().message << "\n";
        return exit_config;
    }

    service_options& svc = report.values.service;
    if (!svc.database && svc.database_server.empty()) use_state_directory(report);  // the default is in it
    auto target = database_target_of(svc, false);
    if (!target) {
        err << target.error().message << "\n";
        return exit_config;
    }
    std::error_code ec;
    // A SQLite file that is not there would be made, empty: these commands read the daemon's.
    if (target->file && !std::filesystem::is_regular_file(*target->file, ec)) {
        err << "SESSIOND_DATABASE: no database file at " << target->file->string()
            << (svc.database ? "" : " (the default, in the state directory)")
            << "; set SESSIOND_DATABASE to the file the daemon uses\n";
        return exit_config;
    }

    store_command body;
    switch (cli.what) {
        case command::keys_status: body = [&](credential_store& s) { return keys_status(s, *keyring, out); }; break;
        case command::keys_rewrap: body = [&](credential_store& s) { return keys_rewrap(s, *keyring, out); }; break;
        case command::audit_verify:
            body = [&](credential_store& s) { return audit_verify(s, *keyring, cli.allow_unverifiable, out); };
            break;
        default: std::abort();  // main dispatches only these here
    }
    return run_on_store(std::move(target->opener), err, std::move(body));
}

}  // namespace sessiond
