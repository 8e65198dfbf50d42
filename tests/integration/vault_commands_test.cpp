// The real ibkr-sessiond's keys status, keys rewrap and audit verify on a real SQLite file, and on a
// real PostgreSQL database, that the test fills through the library (and keeps open, as the daemon
// would), with master key files on disk.

#include "sessiond/users/audit_log.hpp"
#include "support/daemon_process.hpp"
#include "unit/users/sealed_credentials.hpp"
#include "unit/vault/vault_test_keys.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace sessiond::testing {
namespace {

namespace fs = std::filesystem;
using users_test::record_bytes;
using vault_testing::expect_no_key_material;
using vault_testing::random_bytes;

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

const std::vector<std::vector<std::string>> every_command = {{"keys", "status"}, {"keys", "rewrap"}, {"audit", "verify"}};

// The store of the fixture stays open while the commands run: the daemon's connection.
class vault_commands : public store_test::each_engine {
protected:
    void SetUp() override {
        add_key(1);
        each_engine::SetUp();
    }

    void TearDown() override {
        // No command may print a key, in any encoding: not even one retired since.
        expect_no_key_material(printed, every_key);
    }

    [[nodiscard]] fs::path key_dir() const { return dir.path() / "master-keys"; }

    // Master key version v: 32 random bytes in <key_dir>/<v>, mode 0400.
    void add_key(std::uint32_t version) {
        keys.raw[version] = random_bytes(master_key_size);
        every_key.push_back(keys.raw[version]);
        const fs::path key = dir.write("master-keys/" + std::to_string(version), keys.raw[version]);
        fs::permissions(key, fs::perms::owner_read);
    }
    void retire_key(std::uint32_t version) {
        fs::remove(key_dir() / std::to_string(version));
        keys.raw.erase(version);
    }

    [[nodiscard]] environment_overrides environment() const {
        return {{"SESSIOND_DATABASE", engine() == store_test::store_engine::postgresql ? conninfo : file().string()},
                {"SESSIOND_MASTER_KEY_FILE", key_dir().string()},
                {"HOME", dir.path().string()}};
    }

    command_result run(std::vector<std::string> args, const environment_overrides& env) {
        command_result r = run_sessiond(env, std::move(args));
        printed += r.out + r.err;
        return r;
    }
    command_result run(std::vector<std::string> args) { return run(std::move(args), environment()); }

    // Users with a credential sealed under the current master key, each created with its audit entry.
    void add_users(const std::vector<std::string>& ids) {
        const master_keyring keyring = keys.keyring();
        for (const std::string& id : ids) {
            plaintexts[id] = random_bytes(300);  // stands for the PKCS#8 DER: binary, zeros included
            credential_row c = users_test::sealed_credential(id, keyring, plaintexts[id]);
            c.etag = "etag-" + id;
            auto added = transact([&keyring, c](store_tx& tx) -> expected<void> {
                if (auto p = users_test::put_with_user(tx, c); !p) return p.error();
                audit_event created{.actor = "admin", .source = "127.0.0.1", .action = "credential.create",
                                    .target = c.user_id, .outcome = "ok", .details = {{"key_fingerprint", c.key_fingerprint}}};
                if (auto a = append_audit_event(tx, keyring, created, 1000); !a) return a.error();
                return {};
            });
            ASSERT_TRUE(added) << added.error().message;
        }
    }

    vault_testing::test_keys keys;  // the versions loaded now
    std::vector<std::string> every_key;
    std::map<std::string, std::string> plaintexts;
    std::string printed;
};

TEST_P(vault_commands, keys_rewrap_rewraps_every_credential_to_the_new_version_beside_another_connection) {
    const std::vector<std::string> users = {"alice", "bob", "carol", "dave", "erin"};
    add_users(users);
    const auto before = stored_credential("carol");
    add_key(2);

    const auto status = run({"keys", "status"});
    EXPECT_EQ(status.exit_code, 0) << status.out << status.err;
    EXPECT_TRUE(contains(status.out, "  version 1: loaded, seals 5 credentials: to rewrap")) << status.out;
    EXPECT_TRUE(contains(status.out, "  version 2: loaded, current, seals 0 credentials\n")) << status.out;
    EXPECT_TRUE(contains(status.out, "can be retired: none")) << status.out;

    const auto rewrap = run({"keys", "rewrap"});
    EXPECT_EQ(rewrap.exit_code, 0) << rewrap.out << rewrap.err;
    EXPECT_EQ(rewrap.out, "keys rewrap: 5 rewrapped to master key version 2, 0 skipped (changed meanwhile), 0 failed\n");

    const master_keyring only_v2 = keys.keyring({2});
    for (const std::string& id : users) {
        const credential_row c = stored_credential(id);
        EXPECT_EQ(c.key_version, 2) << id;
        const auto opened = open_record(only_v2, key_record_binding(c), record_bytes(c));
        ASSERT_TRUE(opened) << id << ": " << opened.error().message;
        EXPECT_EQ(opened->reveal(), plaintexts[id]) << id;
        EXPECT_EQ(c.etag, "etag-" + id) << "only the wrapped data key changed";
    }
    const auto after = stored_credential("carol");
    EXPECT_EQ(record_bytes(after).substr(record_header_size), record_bytes(before).substr(record_header_size));
    EXPECT_NE(record_bytes(after).substr(0, record_header_size),
              record_bytes(before).substr(0, record_header_size));

    const auto entries = stored_audit_log();
    ASSERT_EQ(entries.size(), 10u);
    for (std::size_t i = 0; i < users.size(); ++i) {
        const audit_row& e = entries[5 + i];
        EXPECT_EQ(e.action, "key.rewrap");
        EXPECT_EQ(e.actor, "admin");
        EXPECT_EQ(e.source, "local");
        EXPECT_EQ(e.target, users[i]);
        EXPECT_EQ(e.outcome, "ok");
        EXPECT_EQ(e.details, R"({"from_key_version":1,"to_key_version":2,"key_fingerprint":"sha256:fp-)" + users[i] +
                                 R"("})");
        EXPECT_EQ(e.key_version, 2);
    }
    const master_keyring both = keys.keyring();
    const auto verdict = transact([&both](store_tx& tx) { return verify_audit_log(tx, both); });
    ASSERT_TRUE(verdict);
    EXPECT_TRUE(verdict->fully_verified()) << verdict->chain.message;

    const auto verify = run({"audit", "verify"});
    EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
    EXPECT_EQ(verify.out, "audit log intact: 10 entries\n");

    const auto retirable = run({"keys", "status"});
    EXPECT_TRUE(contains(retirable.out, "  version 1: loaded, seals 0 credentials: can be retired\n")) << retirable.out;
    EXPECT_TRUE(contains(retirable.out, "  version 2: loaded, current, seals 5 credentials\n")) << retirable.out;
    EXPECT_TRUE(contains(retirable.out, "can be retired: version 1 ")) << retirable.out;

    const auto again = run({"keys", "rewrap"});
    EXPECT_EQ(again.exit_code, 0);
    EXPECT_EQ(again.out, "keys rewrap: 0 rewrapped to master key version 2, 0 skipped (changed meanwhile), 0 failed\n");
    EXPECT_EQ(stored_audit_log().size(), 10u);
}

TEST_P(vault_commands, a_record_that_does_not_open_is_reported_by_user_and_fails_the_run_after_the_rest) {
    add_users({"alice", "bob", "carol"});
    credential_row tampered = stored_credential("bob");
    tampered.key_record.back() ^= 0x01;  // the data's tag
    ASSERT_TRUE(transact([tampered](store_tx& tx) { return tx.put_credential(tampered); }));
    add_key(2);

    const auto rewrap = run({"keys", "rewrap"});
    EXPECT_EQ(rewrap.exit_code, 1) << rewrap.out << rewrap.err;
    EXPECT_TRUE(contains(rewrap.out, "user bob: not rewrapped: the credential record's data does not authenticate"))
        << rewrap.out;
    EXPECT_TRUE(contains(rewrap.out, "keys rewrap: 2 rewrapped to master key version 2, 0 skipped (changed "
                                     "meanwhile), 1 failed (left as they were, listed above)\n"))
        << rewrap.out;
    EXPECT_EQ(stored_credential("alice").key_version, 2);
    EXPECT_EQ(stored_credential("carol").key_version, 2);
    const auto bob = stored_credential("bob");
    EXPECT_EQ(bob.key_version, 1);
    EXPECT_EQ(bob.key_record, tampered.key_record) << "a tampered record never gets a fresh wrap";

    const auto entries = stored_audit_log();
    ASSERT_EQ(entries.size(), 6u);
    EXPECT_EQ(entries[4].target, "bob");
    EXPECT_EQ(entries[4].outcome, "failed");
    EXPECT_TRUE(contains(entries[4].details, R"("reason":"tampered")")) << entries[4].details;
}

TEST_P(vault_commands, audit_verify_names_the_seq_of_an_edited_entry) {
    add_users({"alice", "bob", "carol", "dave"});
    const auto intact = run({"audit", "verify"});
    EXPECT_EQ(intact.exit_code, 0) << intact.out << intact.err;
    EXPECT_EQ(intact.out, "audit log intact: 4 entries\n");

    tamper("UPDATE audit_log SET target = 'mallory' WHERE seq = 3");
    const auto edited = run({"audit", "verify"});
    EXPECT_EQ(edited.exit_code, 1);
    EXPECT_TRUE(contains(edited.out, "audit log broken at seq 3: audit entry seq 3 does not match its MAC")) << edited.out;
}

TEST_P(vault_commands, audit_verify_names_the_seq_after_a_deleted_entry) {
    add_users({"alice", "bob", "carol", "dave"});
    tamper("DELETE FROM audit_log WHERE seq = 2");
    const auto deleted = run({"audit", "verify"});
    EXPECT_EQ(deleted.exit_code, 1);
    EXPECT_TRUE(contains(deleted.out, "audit log broken at seq 3: audit entry seq 3 follows seq 1")) << deleted.out;
    // --allow-unverifiable is about retired keys, never about a broken chain.
    EXPECT_EQ(run({"audit", "verify", "--allow-unverifiable"}).exit_code, 1);
}

TEST_P(vault_commands, entries_under_a_retired_version_are_unverifiable_not_tampered_and_pass_only_when_allowed) {
    add_users({"alice", "bob", "carol"});
    add_key(2);
    ASSERT_EQ(run({"keys", "rewrap"}).exit_code, 0);
    retire_key(1);

    const auto status = run({"keys", "status"});
    EXPECT_EQ(status.out,
              "current master key version: 2\n"
              "  version 2: loaded, current, seals 3 credentials\n"
              "can be retired: none\n");

    const auto strict = run({"audit", "verify"});
    EXPECT_EQ(strict.exit_code, 1) << strict.out;
    EXPECT_TRUE(contains(strict.out, "audit entries seq 1 to 3 (3): cannot be verified: MAC'd under master key version "
                                     "1, which is not loaded\n"))
        << strict.out;
    EXPECT_TRUE(contains(strict.out, "audit log not verified: 3 of 6 entries")) << strict.out;
    EXPECT_FALSE(contains(strict.out, "broken")) << strict.out;

    const auto allowed = run({"audit", "verify", "--allow-unverifiable"});
    EXPECT_EQ(allowed.exit_code, 0) << allowed.out;
    EXPECT_TRUE(contains(allowed.out, "audit log intact: 6 entries, of which 3 could not be verified")) << allowed.out;

    // The entries that can be verified still are: an edit among them is found behind the retired ones.
    tamper("UPDATE audit_log SET outcome = 'refused' WHERE seq = 5");
    const auto edited = run({"audit", "verify", "--allow-unverifiable"});
    EXPECT_EQ(edited.exit_code, 1);
    EXPECT_TRUE(contains(edited.out, "audit log broken at seq 5")) << edited.out;
}

TEST_P(vault_commands, without_a_master_key_every_command_exits_78_saying_how_to_make_one) {
    add_users({"alice"});
    environment_overrides env = environment();
    env["SESSIOND_MASTER_KEY_FILE"] = std::nullopt;
    for (const std::vector<std::string>& command : every_command) {
        SCOPED_TRACE(command[0] + " " + command[1]);
        const auto r = run(command, env);
        EXPECT_EQ(r.exit_code, 78);
        EXPECT_TRUE(contains(r.err, "master key: no master key is configured")) << r.err;
        EXPECT_TRUE(contains(r.err, "head -c 32 /dev/urandom")) << r.err;
        EXPECT_TRUE(r.out.empty()) << r.out;
    }
    // A key file anyone may read is no key either.
    fs::permissions(key_dir() / "1", fs::perms::owner_read | fs::perms::others_read);
    const auto loose = run({"keys", "status"});
    EXPECT_EQ(loose.exit_code, 78);
    EXPECT_TRUE(contains(loose.err, (key_dir() / "1").string())) << loose.err;
}

TEST_P(vault_commands, without_the_database_file_every_command_exits_78_naming_sessiond_database_and_the_path) {
    environment_overrides env = environment();
    if (engine() == store_test::store_engine::postgresql) {
        // A server that is not there: every command fails naming it, and never shows the password.
        env["SESSIOND_DATABASE"] = "host=" + (dir.path() / "no-server").string() + " dbname=sessiond password=pw-never-shown";
        for (const std::vector<std::string>& command : every_command) {
            SCOPED_TRACE(command[0] + " " + command[1]);
            const auto r = run(command, env);
            EXPECT_EQ(r.exit_code, 1);
            EXPECT_TRUE(contains(r.err, "cannot connect")) << r.err;
            EXPECT_TRUE(contains(r.err, (dir.path() / "no-server").string())) << r.err;
            EXPECT_FALSE(contains(r.err + r.out, "pw-never-shown")) << r.err;
        }
        return;
    }
    const fs::path missing = dir.path() / "elsewhere.sqlite3";
    env["SESSIOND_DATABASE"] = missing.string();
    for (const std::vector<std::string>& command : every_command) {
        SCOPED_TRACE(command[0] + " " + command[1]);
        const auto r = run(command, env);
        EXPECT_EQ(r.exit_code, 78);
        EXPECT_TRUE(contains(r.err, "SESSIOND_DATABASE: no database file at " + missing.string())) << r.err;
    }
    EXPECT_FALSE(fs::exists(missing)) << "a command never creates the database";

    // Unset: the default in the state directory, named as such.
    env["SESSIOND_DATABASE"] = std::nullopt;
    const auto by_default = run({"keys", "status"}, env);
    EXPECT_EQ(by_default.exit_code, 78);
    const fs::path default_file = dir.path() / ".local" / "state" / "ibkr-sessiond" / "sessiond.sqlite3";
    EXPECT_TRUE(contains(by_default.err, "SESSIOND_DATABASE: no database file at " + default_file.string() +
                                             " (the default, in the state directory)"))
        << by_default.err;

    env["SESSIOND_DATABASE"] = "relative.sqlite3";
    const auto relative = run({"keys", "status"}, env);
    EXPECT_EQ(relative.exit_code, 78);
    EXPECT_EQ(relative.err, "SESSIOND_DATABASE: \"relative.sqlite3\" is not an absolute path\n");
}

INSTANTIATE_TEST_SUITE_P(engines, vault_commands, store_test::each_engine::all, store_test::engine_name);

}  // namespace
}  // namespace sessiond::testing
