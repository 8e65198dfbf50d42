#include "sessiond/users/audit_log.hpp"

#include "unit/store/store_test_support.hpp"

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
    audit_log_verdict verify(const master_keyring& keyring, std::size_t page = 2) {
        auto v = transact([&keyring, page](store_tx& tx) { return verify_audit_log(tx, keyring, page); });
        EXPECT_TRUE(v) << (v ? "" : v.error().message);
        return v ? *v : audit_log_verdict{};
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
    EXPECT_TRUE(verify(keys, 2).fully_verified()) << verify(keys, 2).chain.message;
    EXPECT_TRUE(verify(keys, 1000).fully_verified());
    EXPECT_EQ(verify(keys, 2).entries, 5);
    EXPECT_EQ(verify(keys, 1000).entries, 5);
}

TEST_F(audit_log_test, an_edited_entry_is_found_at_its_seq) {
    const auto keys = keyring_of({{1, 'a'}});
    append(keys, 5);
    tamper("UPDATE audit_log SET outcome = 'refused' WHERE seq = 3");
    const auto v = verify(keys).chain;
    EXPECT_EQ(v.fault, chain_fault::mac_mismatch);
    EXPECT_EQ(v.bad_seq, 3);
}

TEST_F(audit_log_test, a_deleted_entry_is_found_where_the_chain_breaks) {
    const auto keys = keyring_of({{1, 'a'}});
    append(keys, 5);
    tamper("DELETE FROM audit_log WHERE seq = 2");
    const auto v = verify(keys).chain;
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
    EXPECT_TRUE(verify(both).fully_verified());
    const auto retired = verify(keyring_of({{2, 'b'}}));
    EXPECT_TRUE(retired.chain.intact()) << retired.chain.message;
    EXPECT_FALSE(retired.fully_verified()) << "v1 retired: its entries cannot be vouched for";
    EXPECT_EQ(retired.unverifiable, (std::vector<unverifiable_entries>{{1, 1, 2}}));
    EXPECT_EQ(retired.entries, 4);
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
    EXPECT_TRUE(verify(keys).fully_verified());
}

// Entries under a retired version are passed over, not failed: the chain goes on from their stored
// MAC, and whatever was done to the entries around them is still found.
TEST_F(audit_log_test, entries_under_a_version_not_loaded_are_reported_as_runs_and_the_chain_goes_on) {
    const auto v1 = keyring_of({{1, 'a'}});
    const auto v2 = keyring_of({{1, 'a'}, {2, 'b'}});
    append(v1, 3);  // seq 1-3
    append(v2, 2);  // seq 4-5
    const auto only_v2 = keyring_of({{2, 'b'}});
    const auto v = verify(only_v2, 2);  // runs cross page boundaries
    EXPECT_TRUE(v.chain.intact()) << v.chain.message;
    EXPECT_EQ(v.unverifiable, (std::vector<unverifiable_entries>{{1, 1, 3}}));
    EXPECT_EQ(v.unverifiable.front().count(), 3);
    EXPECT_EQ(v.entries, 5);
    ASSERT_TRUE(v.chain.last_good);
    EXPECT_EQ(v.chain.last_good->seq, 5);

    const auto only_v1 = verify(keyring_of({{1, 'a'}}), 1000);
    EXPECT_TRUE(only_v1.chain.intact());
    EXPECT_EQ(only_v1.unverifiable, (std::vector<unverifiable_entries>{{2, 4, 5}}));
}

// Entries under version 1 then under version 2, `sql` run behind the store's back, and the log as
// a keyring that has retired version 1 sees it.
class retired_version_test : public audit_log_test {
protected:
    audit_log_verdict tampered_after_retiring_v1(int v1_entries, int v2_entries, const std::string& sql) {
        append(keyring_of({{1, 'a'}}), v1_entries);
        append(keyring_of({{1, 'a'}, {2, 'b'}}), v2_entries);
        tamper(sql);
        return verify(keyring_of({{2, 'b'}}));
    }
};

TEST_F(retired_version_test, an_edit_after_unverifiable_entries_is_still_found) {
    const auto v = tampered_after_retiring_v1(3, 3, "UPDATE audit_log SET target = 'someone-else' WHERE seq = 5");
    EXPECT_EQ(v.chain.fault, chain_fault::mac_mismatch);
    EXPECT_EQ(v.chain.bad_seq, 5);
}

TEST_F(retired_version_test, a_changed_mac_of_an_unverifiable_entry_breaks_the_next_verified_one) {
    const auto v = tampered_after_retiring_v1(2, 1, "UPDATE audit_log SET mac = zeroblob(32) WHERE seq = 2");
    EXPECT_EQ(v.chain.fault, chain_fault::mac_mismatch);
    EXPECT_EQ(v.chain.bad_seq, 3);
}

TEST_F(retired_version_test, a_deleted_unverifiable_entry_is_still_a_gap) {
    const auto v = tampered_after_retiring_v1(4, 0, "DELETE FROM audit_log WHERE seq = 2");
    EXPECT_EQ(v.chain.fault, chain_fault::seq_gap);
    EXPECT_EQ(v.chain.bad_seq, 3);
    EXPECT_EQ(v.unverifiable, (std::vector<unverifiable_entries>{{1, 1, 1}}));
}

}  // namespace
}  // namespace sessiond
