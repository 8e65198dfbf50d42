#include "sessiond/users/audit_log.hpp"

#include "unit/store/store_test_support.hpp"

#include <sqlite3.h>

#include <gtest/gtest.h>

#include <map>

namespace sessiond {
namespace {

using store_test::store_fixture;

master_keyring keyring_of(std::map<std::uint32_t, char> fill) {
    std::map<std::uint32_t, secret> keys;
    for (const auto& [version, byte] : fill) keys.emplace(version, secret(std::string(32, byte)));
    return *master_keyring::from_keys(std::move(keys));
}

audit_event event(std::string action, std::string target) {
    return {.actor = "admin", .source = "127.0.0.1", .action = std::move(action), .target = std::move(target),
            .outcome = "ok", .details = {{"key_fingerprint", "ab12"}, {"key_version", 1}}};
}

class audit_log_test : public store_fixture {
protected:
    void append(const master_keyring& keyring, int n) {
        for (int i = 0; i < n; ++i) {
            auto added = transact([&keyring, i](store_tx& tx) {
                return append_audit_event(tx, keyring, event("user.create", "user-" + std::to_string(i)), 1000 + i);
            });
            ASSERT_TRUE(added) << added.error().message;
        }
    }
    chain_verdict verify(const master_keyring& keyring, std::size_t page = 2) {
        auto v = transact([&keyring, page](store_tx& tx) { return verify_audit_log(tx, keyring, page); });
        EXPECT_TRUE(v) << (v ? "" : v.error().message);
        return v ? *v : chain_verdict{};
    }
    // What someone with write access to the database file does behind the daemon's back.
    void tamper(const char* sql) {
        sqlite3* db = nullptr;
        ASSERT_EQ(sqlite3_open(file().c_str(), &db), SQLITE_OK);
        char* message = nullptr;
        EXPECT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, &message), SQLITE_OK) << (message ? message : "");
        sqlite3_free(message);
        sqlite3_close(db);
    }
};

TEST_F(audit_log_test, entries_are_numbered_chained_and_verify_across_pages) {
    const auto keys = keyring_of({{1, 'a'}});
    append(keys, 5);
    const auto rows = transact([](store_tx& tx) { return tx.audit_all(0, 10); });
    ASSERT_TRUE(rows);
    ASSERT_EQ(rows->size(), 5u);
    EXPECT_EQ(rows->front().seq, 1);
    EXPECT_EQ(rows->back().seq, 5);
    EXPECT_EQ(rows->front().details, R"({"key_fingerprint":"ab12","key_version":1})");
    EXPECT_EQ(rows->front().key_version, 1);
    EXPECT_TRUE(verify(keys, 2).intact()) << verify(keys, 2).message;
    EXPECT_TRUE(verify(keys, 1000).intact());
}

TEST_F(audit_log_test, an_edited_entry_is_found_at_its_seq) {
    const auto keys = keyring_of({{1, 'a'}});
    append(keys, 5);
    tamper("UPDATE audit_log SET outcome = 'refused' WHERE seq = 3");
    const auto v = verify(keys);
    EXPECT_EQ(v.fault, chain_fault::mac_mismatch);
    EXPECT_EQ(v.bad_seq, 3);
}

TEST_F(audit_log_test, a_deleted_entry_is_found_where_the_chain_breaks) {
    const auto keys = keyring_of({{1, 'a'}});
    append(keys, 5);
    tamper("DELETE FROM audit_log WHERE seq = 2");
    const auto v = verify(keys);
    EXPECT_EQ(v.fault, chain_fault::seq_gap);
    EXPECT_EQ(v.bad_seq, 3);
}

TEST_F(audit_log_test, entries_after_a_key_rotation_chain_on_and_verify_with_both_versions) {
    append(keyring_of({{1, 'a'}}), 2);
    const auto both = keyring_of({{1, 'a'}, {2, 'b'}});
    append(both, 2);
    const auto rows = transact([](store_tx& tx) { return tx.audit_all(0, 10); });
    ASSERT_TRUE(rows);
    EXPECT_EQ(rows->at(3).key_version, 2);
    EXPECT_TRUE(verify(both).intact());
    EXPECT_EQ(verify(keyring_of({{2, 'b'}})).fault, chain_fault::unknown_key_version) << "v1 retired too early";
}

TEST_F(audit_log_test, a_failed_transaction_leaves_no_entry_and_the_next_one_takes_its_seq) {
    const auto keys = keyring_of({{1, 'a'}});
    append(keys, 1);
    auto failed = transact([&keys](store_tx& tx) -> expected<void> {
        if (auto r = append_audit_event(tx, keys, event("user.delete", "user-0"), 2000); !r) return r.error();
        return make_error("the change it recorded failed");
    });
    EXPECT_FALSE(failed);
    append(keys, 1);
    const auto rows = transact([](store_tx& tx) { return tx.audit_all(0, 10); });
    ASSERT_TRUE(rows);
    ASSERT_EQ(rows->size(), 2u);
    EXPECT_EQ(rows->back().action, "user.create");
    EXPECT_TRUE(verify(keys).intact());
}

}  // namespace
}  // namespace sessiond
