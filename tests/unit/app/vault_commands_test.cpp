// keys status, keys rewrap and audit verify: what they print and decide (pure), and the rewrap's
// steps on a real store.

#include "sessiond/app/vault_commands.hpp"

#include "unit/users/sealed_credentials.hpp"
#include "unit/vault/vault_test_keys.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sessiond {
namespace {

using store_test::await_on;
using store_test::store_fixture;
using users_test::put_with_user;
using users_test::record_bytes;
using users_test::sealed_credential;
using vault_testing::make_keys;

// ---- keys status ------------------------------------------------------------------------------

TEST(vault_commands, key_status_lists_every_version_loaded_or_used) {
    const auto keys = make_keys({1, 2});
    const key_version_count used[] = {{1, 2}, {3, 1}};
    EXPECT_EQ(key_status_of(keys.keyring(), used),
              (std::vector<key_version_status>{{.version = 1, .loaded = true, .current = false, .credentials = 2},
                                               {.version = 2, .loaded = true, .current = true, .credentials = 0},
                                               {.version = 3, .loaded = false, .current = false, .credentials = 1}}));
}

TEST(vault_commands, key_status_says_what_can_be_retired_what_to_rewrap_and_what_cannot_be_opened) {
    const std::vector<key_version_status> versions = {
        {.version = 1, .loaded = true, .credentials = 0},
        {.version = 2, .loaded = true, .credentials = 1},
        {.version = 3, .loaded = true, .current = true, .credentials = 4},
        {.version = 7, .loaded = false, .credentials = 2},
    };
    EXPECT_EQ(format_key_status(versions),
              "current master key version: 3\n"
              "  version 1: loaded, seals 0 credentials: can be retired\n"
              "  version 2: loaded, seals 1 credential: to rewrap (ibkr-sessiond keys rewrap)\n"
              "  version 3: loaded, current, seals 4 credentials\n"
              "  version 7: not loaded, seals 2 credentials: they cannot be opened until version 7 is loaded\n"
              "can be retired: version 1 (its audit entries can then no longer be verified: audit verify reports "
              "them, and accepts them with --allow-unverifiable)\n");
}

TEST(vault_commands, the_current_version_is_never_retirable_even_when_it_seals_nothing) {
    const std::vector<key_version_status> versions = {{.version = 1, .loaded = true, .current = true}};
    EXPECT_EQ(format_key_status(versions),
              "current master key version: 1\n"
              "  version 1: loaded, current, seals 0 credentials\n"
              "can be retired: none\n");
}

// ---- keys rewrap: the summary -----------------------------------------------------------------

TEST(vault_commands, the_rewrap_summary_counts_each_outcome) {
    rewrap_tally tally{.to_version = 2, .rewrapped = 3, .skipped = 1, .failed = {}};
    EXPECT_EQ(format_rewrap_summary(tally),
              "keys rewrap: 3 rewrapped to master key version 2, 1 skipped (changed meanwhile), 0 failed\n");
    tally.failed.push_back({"bob", "tampered"});
    EXPECT_EQ(format_rewrap_summary(tally),
              "keys rewrap: 3 rewrapped to master key version 2, 1 skipped (changed meanwhile), 1 failed (left as "
              "they were, listed above)\n");
}

// ---- audit verify: the report -----------------------------------------------------------------

audit_log_verdict intact(std::int64_t entries, std::vector<unverifiable_entries> unverifiable = {}) {
    audit_log_verdict v;
    v.entries = entries;
    v.unverifiable = std::move(unverifiable);
    return v;
}

TEST(vault_commands, an_intact_log_exits_0_with_its_size) {
    const command_report r = audit_verify_report(intact(12), false);
    EXPECT_EQ(r.exit_code, exit_ok);
    EXPECT_EQ(r.text, "audit log intact: 12 entries\n");
}

TEST(vault_commands, a_broken_log_exits_1_naming_the_first_bad_seq) {
    audit_log_verdict v = intact(4);
    v.chain = {.fault = chain_fault::mac_mismatch,
               .bad_seq = 5,
               .message = "audit entry seq 5 does not match its MAC",
               .last_good = std::nullopt};
    const command_report r = audit_verify_report(v, true);
    EXPECT_EQ(r.exit_code, exit_failure) << "--allow-unverifiable never excuses a broken chain";
    EXPECT_EQ(r.text, "audit log broken at seq 5: audit entry seq 5 does not match its MAC\n");
}

TEST(vault_commands, entries_under_a_version_not_loaded_fail_as_unverifiable_not_as_tampering) {
    const auto v = intact(10, {{1, 1, 6}, {3, 8, 8}});
    const command_report r = audit_verify_report(v, false);
    EXPECT_EQ(r.exit_code, exit_failure);
    EXPECT_EQ(r.text,
              "audit entries seq 1 to 6 (6): cannot be verified: MAC'd under master key version 1, which is not loaded\n"
              "audit entry seq 8: cannot be verified: MAC'd under master key version 3, which is not loaded\n"
              "audit log not verified: 7 of 10 entries are MAC'd under master key versions that are not loaded "
              "(retired?); load those versions to verify them, or pass --allow-unverifiable to accept the rest of "
              "the log as verified\n");
    EXPECT_EQ(r.text.find("broken"), std::string::npos);
}

TEST(vault_commands, allow_unverifiable_accepts_them_and_still_lists_them) {
    const command_report r = audit_verify_report(intact(10, {{1, 1, 6}}), true);
    EXPECT_EQ(r.exit_code, exit_ok);
    EXPECT_EQ(r.text,
              "audit entries seq 1 to 6 (6): cannot be verified: MAC'd under master key version 1, which is not loaded\n"
              "audit log intact: 10 entries, of which 6 could not be verified (--allow-unverifiable)\n");
}

// ---- keys rewrap on a store -------------------------------------------------------------------

std::string plaintext_of(const std::string& user) { return "pretend PKCS#8 DER of " + user; }

class rewrap_test : public store_fixture {
protected:
    // A user with a credential sealed under `keyring`'s current version.
    credential_row add(const std::string& user, const master_keyring& keyring, const std::string& etag = "etag-1") {
        credential_row c = sealed_credential(user, keyring, plaintext_of(user));
        c.etag = etag;
        auto put = transact([c](store_tx& tx) { return put_with_user(tx, c); });
        EXPECT_TRUE(put) << put.error().message;
        return c;
    }

    void expect_opens_under_only(const vault_testing::test_keys& keys, std::uint32_t version, const std::string& user) {
        const credential_row c = stored_credential(user);
        EXPECT_EQ(c.key_version, version);
        const auto opened = open_record(keys.keyring({version}), key_record_binding(c), record_bytes(c));
        ASSERT_TRUE(opened) << user << ": " << opened.error().message;
        EXPECT_EQ(opened->reveal(), plaintext_of(user));
    }

    static std::int64_t at_5000() { return 5000; }
};

TEST_F(rewrap_test, a_credential_is_rewrapped_in_place_with_its_audit_entry) {
    const auto keys = make_keys({1, 2});
    const credential_row before = add("alice", keys.keyring({1}));
    const auto done = transact([&keys, before](store_tx& tx) { return rewrap_credential(tx, keys.keyring(), before, 5000); });
    ASSERT_TRUE(done) << done.error().message;
    EXPECT_EQ(done->step, rewrap_step::rewrapped);

    expect_opens_under_only(keys, 2, "alice");
    const credential_row after = stored_credential("alice");
    EXPECT_EQ(after.etag, before.etag) << "the content did not change";
    EXPECT_EQ(after.updated_ms, before.updated_ms);
    // Only the wrapped data key changed: the data part is the same bytes.
    EXPECT_EQ(record_bytes(after).substr(record_header_size), record_bytes(before).substr(record_header_size));

    const auto entries = stored_audit_log();
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_EQ(entries[0].actor, "admin");
    EXPECT_EQ(entries[0].source, "local");
    EXPECT_EQ(entries[0].action, "key.rewrap");
    EXPECT_EQ(entries[0].target, "alice");
    EXPECT_EQ(entries[0].outcome, "ok");
    EXPECT_EQ(entries[0].at_ms, 5000);
    EXPECT_EQ(entries[0].details, R"({"from_key_version":1,"to_key_version":2,"key_fingerprint":"sha256:fp-alice"})");
    EXPECT_EQ(entries[0].key_version, 2);
}

TEST_F(rewrap_test, a_row_changed_since_it_was_read_is_not_written) {
    const auto keys = make_keys({1, 2});
    const credential_row stale = add("alice", keys.keyring({1}), "etag-1");
    add("alice", keys.keyring({1}), "etag-2");  // replaced meanwhile
    const credential_row replaced = stored_credential("alice");
    const auto done = transact([&keys, stale](store_tx& tx) { return rewrap_credential(tx, keys.keyring(), stale, 5000); });
    ASSERT_TRUE(done) << done.error().message;
    EXPECT_EQ(done->step, rewrap_step::changed_meanwhile);
    EXPECT_EQ(stored_credential("alice").key_record, replaced.key_record);
    EXPECT_TRUE(stored_audit_log().empty());
}

TEST_F(rewrap_test, a_tampered_record_is_never_rewrapped_and_its_failure_is_audited) {
    const auto keys = make_keys({1, 2});
    credential_row c = add("alice", keys.keyring({1}));
    c.key_record.back() ^= 0x01;
    ASSERT_TRUE(transact([c](store_tx& tx) { return tx.put_credential(c); }));
    const auto done = transact([&keys, c](store_tx& tx) { return rewrap_credential(tx, keys.keyring(), c, 5000); });
    ASSERT_TRUE(done) << done.error().message;
    EXPECT_EQ(done->step, rewrap_step::failed);
    EXPECT_FALSE(done->reason.empty());
    vault_testing::expect_no_key_material(done->reason, keys);
    EXPECT_EQ(stored_credential("alice").key_record, c.key_record);
    EXPECT_EQ(stored_credential("alice").key_version, 1);
    const auto entries = stored_audit_log();
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_EQ(entries[0].outcome, "failed");
    EXPECT_EQ(entries[0].details,
              R"({"from_key_version":1,"to_key_version":2,"key_fingerprint":"sha256:fp-alice","reason":"tampered"})");
}

TEST_F(rewrap_test, a_row_replaced_meanwhile_is_read_again_and_its_new_record_rewrapped) {
    const auto keys = make_keys({1, 2});
    const credential_row stale = add("alice", keys.keyring({1}), "etag-1");
    const credential_row replaced = add("alice", keys.keyring({1}), "etag-2");
    const auto done = transact([&keys, stale](store_tx& tx) { return rewrap_row(tx, keys.keyring(), stale, 5000); });
    ASSERT_TRUE(done) << done.error().message;
    EXPECT_EQ(done->step, rewrap_step::rewrapped);
    const credential_row now = stored_credential("alice");
    EXPECT_EQ(now.etag, "etag-2");
    EXPECT_EQ(record_bytes(now).substr(record_header_size),
              record_bytes(replaced).substr(record_header_size))
        << "the record written meanwhile was rewrapped, not the stale one";
    expect_opens_under_only(keys, 2, "alice");
    EXPECT_EQ(stored_audit_log().size(), 1u);
}

TEST_F(rewrap_test, a_row_deleted_or_resealed_under_the_current_version_meanwhile_is_skipped) {
    const auto keys = make_keys({1, 2});
    const credential_row gone = add("alice", keys.keyring({1}));
    ASSERT_TRUE(transact([](store_tx& tx) { return tx.delete_credential("alice"); }));
    const credential_row stale = add("bob", keys.keyring({1}), "etag-1");
    add("bob", keys.keyring(), "etag-2");  // replaced under version 2
    for (const credential_row& row : {gone, stale}) {
        const auto done = transact([&keys, row](store_tx& tx) { return rewrap_row(tx, keys.keyring(), row, 5000); });
        ASSERT_TRUE(done) << done.error().message;
        EXPECT_EQ(done->step, rewrap_step::skipped) << row.user_id;
    }
    EXPECT_TRUE(stored_audit_log().empty());
}

TEST_F(rewrap_test, rewrap_all_pages_through_every_older_version_and_reports_each_failure) {
    const auto keys = make_keys({1, 2, 3});
    for (const char* user : {"a", "b", "c", "d"}) add(user, keys.keyring({1}));
    add("e", keys.keyring({1, 2}));
    add("f", keys.keyring());  // already current
    credential_row bad = stored_credential("c");
    bad.key_record[10] ^= 0x80;
    ASSERT_TRUE(transact([bad](store_tx& tx) { return tx.put_credential(bad); }));

    std::vector<std::string> reported;
    auto on_failure = [&reported](const rewrap_failure& f) { reported.push_back(f.user_id); };
    const auto tally = await_on(io, rewrap_all(*store, keys.keyring(), at_5000, on_failure, 2));
    ASSERT_TRUE(tally) << tally.error().message;
    EXPECT_EQ(tally->to_version, 3u);
    EXPECT_EQ(tally->rewrapped, 4);
    EXPECT_EQ(tally->skipped, 0);
    ASSERT_EQ(tally->failed.size(), 1u);
    EXPECT_EQ(tally->failed[0].user_id, "c");
    EXPECT_EQ(reported, std::vector<std::string>{"c"});

    for (const char* user : {"a", "b", "d", "e", "f"}) expect_opens_under_only(keys, 3, user);
    EXPECT_EQ(stored_credential("c").key_version, 1) << "left as it was";
    const auto verdict = transact([&keys](store_tx& tx) { return verify_audit_log(tx, keys.keyring()); });
    ASSERT_TRUE(verdict);
    EXPECT_TRUE(verdict->fully_verified()) << verdict->chain.message;
    EXPECT_EQ(verdict->entries, 5) << "four rewraps and one failure";

    // Run again: nothing left but the failure.
    const auto again = await_on(io, rewrap_all(*store, keys.keyring(), at_5000, nullptr, 2));
    ASSERT_TRUE(again);
    EXPECT_EQ(again->rewrapped, 0);
    EXPECT_EQ(again->failed.size(), 1u);
}

}  // namespace
}  // namespace sessiond
