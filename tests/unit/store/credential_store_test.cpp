// The typed operations of the store, each on a real database of every engine (a SQLite file, a
// PostgreSQL database), awaited on the test's loop.

#include "store_test_support.hpp"

#include <string>
#include <vector>

namespace sessiond {
namespace {

using namespace store_test;

class store_credentials : public each_engine {
protected:
    void add_user(std::string id) {
        auto insert = [u = user(std::move(id))](store_tx& tx) { return tx.insert_user(u); };
        auto r = transact(std::move(insert));
        ASSERT_TRUE(r) << r.error().message;
    }
    void put(credential_row c) {
        auto write = [c = std::move(c)](store_tx& tx) { return tx.put_credential(c); };
        auto r = transact(std::move(write));
        ASSERT_TRUE(r) << r.error().message;
    }
    std::optional<credential_row> credential(std::string user_id) {
        auto read = [user_id = std::move(user_id)](store_tx& tx) { return tx.find_credential(user_id); };
        auto r = transact(std::move(read));
        EXPECT_TRUE(r) << r.error().message;
        return r ? *r : std::nullopt;
    }
    audit_row audit(std::int64_t seq, std::string actor, std::string target) {
        audit_row a;
        a.seq = seq;
        a.at_ms = 1000 + seq;
        a.actor = std::move(actor);
        a.source = "api";
        a.action = "credential.put";
        a.target = std::move(target);
        a.outcome = "ok";
        a.details = "{}";
        a.key_version = 1;
        a.mac = {static_cast<std::uint8_t>(seq), 0xaa};
        return a;
    }
    expected<void> append(audit_row a) {
        auto write = [a = std::move(a)](store_tx& tx) { return tx.append_audit(a); };
        return transact(std::move(write));
    }
};

TEST_P(store_credentials, finds_a_credential_with_every_column_as_it_was_put) {
    add_user("alice");
    auto c = credential_for("alice");
    c.scope = "trading";
    c.last_validated_ms = 4242;
    put(c);
    const auto found = credential("alice");
    ASSERT_TRUE(found);
    EXPECT_EQ(found->credential_id, c.credential_id);
    EXPECT_EQ(found->client_id, c.client_id);
    EXPECT_EQ(found->client_key_id, c.client_key_id);
    EXPECT_EQ(found->username, c.username);
    EXPECT_EQ(found->account_id, c.account_id);
    EXPECT_EQ(found->allowed_ip, c.allowed_ip);
    EXPECT_EQ(found->environment, c.environment);
    EXPECT_EQ(found->scope, c.scope);
    EXPECT_EQ(found->key_fingerprint, c.key_fingerprint);
    EXPECT_EQ(found->key_record, c.key_record);
    EXPECT_EQ(found->key_version, c.key_version);
    EXPECT_EQ(found->etag, c.etag);
    EXPECT_EQ(found->created_ms, c.created_ms);
    EXPECT_EQ(found->updated_ms, c.updated_ms);
    EXPECT_EQ(found->last_validated_ms, c.last_validated_ms);
    EXPECT_FALSE(credential("bob"));
}

TEST_P(store_credentials, put_replaces_the_users_credential) {
    add_user("alice");
    put(credential_for("alice"));
    auto changed = credential_for("alice");
    changed.account_id = "U999";
    changed.etag = "etag-2";
    put(changed);
    const auto found = credential("alice");
    ASSERT_TRUE(found);
    EXPECT_EQ(found->account_id, "U999");
    EXPECT_EQ(found->etag, "etag-2");
}

TEST_P(store_credentials, a_credential_needs_its_user) {
    auto write = [c = credential_for("nobody")](store_tx& tx) { return tx.put_credential(c); };
    EXPECT_FALSE(transact(std::move(write)));
}

TEST_P(store_credentials, an_error_names_the_operation_never_a_value) {
    add_user("alice");
    add_user("bob");
    auto a = credential_for("alice");
    a.credential_id = "shared-credential-id";
    put(a);
    auto b = credential_for("bob");
    b.credential_id = a.credential_id;  // UNIQUE
    auto write = [b](store_tx& tx) { return tx.put_credential(b); };
    auto r = transact(std::move(write));
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("put_credential"), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().message.find("shared-credential-id"), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().message.find("bob"), std::string::npos) << r.error().message;
}

TEST_P(store_credentials, a_transaction_that_fails_after_writing_leaves_neither_credential_nor_audit_entry) {
    add_user("alice");
    auto failing = [c = credential_for("alice"), a = audit(1, "admin", "alice")](store_tx& tx) -> expected<void> {
        if (auto r = tx.put_credential(c); !r) return r;
        if (auto r = tx.append_audit(a); !r) return r;
        return make_error("the caller changed its mind");
    };
    auto r = transact(std::move(failing));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "the caller changed its mind");
    EXPECT_FALSE(credential("alice"));
    auto head = [](store_tx& tx) { return tx.last_audit(); };
    auto last = transact(std::move(head));
    ASSERT_TRUE(last) << last.error().message;
    EXPECT_FALSE(*last);
}

TEST_P(store_credentials, deleting_a_user_deletes_its_credential) {
    add_user("alice");
    put(credential_for("alice"));
    auto remove = [](store_tx& tx) { return tx.delete_user("alice"); };
    auto deleted = transact(std::move(remove));
    ASSERT_TRUE(deleted) << deleted.error().message;
    EXPECT_TRUE(*deleted);
    EXPECT_FALSE(credential("alice"));
    auto again = [](store_tx& tx) { return tx.delete_user("alice"); };
    EXPECT_EQ(transact(std::move(again)).value(), false);
}

TEST_P(store_credentials, delete_credential_keeps_the_user) {
    add_user("alice");
    put(credential_for("alice"));
    auto remove = [](store_tx& tx) { return tx.delete_credential("alice"); };
    EXPECT_EQ(transact(std::move(remove)).value(), true);
    EXPECT_FALSE(credential("alice"));
    auto find = [](store_tx& tx) { return tx.find_user("alice"); };
    EXPECT_TRUE(transact(std::move(find)).value());
}

TEST_P(store_credentials, finds_a_user_by_its_token_hash_until_the_token_is_replaced) {
    add_user("alice");
    add_user("bob");
    const byte_string first{1, 2, 3, 0};
    const byte_string second{9, 9};
    auto issue = [&first](store_tx& tx) { return tx.set_token_hash("alice", first, 5000); };
    EXPECT_EQ(transact(std::move(issue)).value(), true);

    auto by_first = [&first](store_tx& tx) { return tx.find_user_by_token_hash(first); };
    const auto found = transact(by_first).value();
    ASSERT_TRUE(found);
    EXPECT_EQ(found->id, "alice");
    EXPECT_EQ(found->token_hash, first);
    EXPECT_EQ(found->token_created_ms, 5000);

    auto replace = [&second](store_tx& tx) { return tx.set_token_hash("alice", second, 6000); };
    EXPECT_EQ(transact(std::move(replace)).value(), true);
    EXPECT_FALSE(transact(by_first).value());

    // Unique where set: bob cannot take alice's; revoked (none) is allowed for any number of users.
    auto steal = [&second](store_tx& tx) { return tx.set_token_hash("bob", second, 7000); };
    EXPECT_FALSE(transact(std::move(steal)));
    auto revoke = [](store_tx& tx) { return tx.set_token_hash("alice", std::nullopt, 8000); };
    EXPECT_EQ(transact(std::move(revoke)).value(), true);
    auto alice = [](store_tx& tx) { return tx.find_user("alice"); };
    const auto revoked = transact(std::move(alice)).value();
    ASSERT_TRUE(revoked);
    EXPECT_FALSE(revoked->token_hash);
    EXPECT_FALSE(revoked->token_created_ms);

    auto nobody = [](store_tx& tx) { return tx.set_token_hash("nobody", byte_string{1}, 1); };
    EXPECT_EQ(transact(std::move(nobody)).value(), false);
}

TEST_P(store_credentials, list_users_pages_in_id_order) {
    for (const char* id : {"dave", "alice", "carol", "bob", "erin"}) add_user(id);
    std::vector<std::string> seen;
    std::string after;
    for (int pages = 0; pages < 10; ++pages) {
        auto page = [after](store_tx& tx) { return tx.list_users(after, 2); };
        const auto users = transact(std::move(page)).value();
        EXPECT_LE(users.size(), 2u);
        if (users.empty()) break;
        for (const auto& u : users) seen.push_back(u.id);
        after = users.back().id;
    }
    EXPECT_EQ(seen, (std::vector<std::string>{"alice", "bob", "carol", "dave", "erin"}));
}

TEST_P(store_credentials, update_key_record_writes_only_if_the_credential_is_unchanged) {
    add_user("alice");
    put(credential_for("alice", 1));
    const byte_string resealed{7, 7, 7};
    auto stale = [&resealed](store_tx& tx) { return tx.update_key_record("alice", "etag-old", resealed, 2); };
    EXPECT_EQ(transact(std::move(stale)).value(), false);
    EXPECT_EQ(credential("alice")->key_version, 1);

    auto current = [&resealed](store_tx& tx) { return tx.update_key_record("alice", "etag-1", resealed, 2); };
    EXPECT_EQ(transact(std::move(current)).value(), true);
    const auto found = credential("alice");
    ASSERT_TRUE(found);
    EXPECT_EQ(found->key_record, resealed);
    EXPECT_EQ(found->key_version, 2);
    EXPECT_EQ(found->etag, "etag-1");

    auto gone = [&resealed](store_tx& tx) { return tx.update_key_record("nobody", "etag-1", resealed, 2); };
    EXPECT_EQ(transact(std::move(gone)).value(), false);
}

TEST_P(store_credentials, counts_and_pages_credentials_by_key_version) {
    for (const char* id : {"a", "b", "c", "d"}) {
        add_user(id);
        put(credential_for(id, std::string(id) == "c" ? 2 : 1));
    }
    auto versions = [](store_tx& tx) { return tx.list_key_versions(); };
    const auto counts = transact(std::move(versions)).value();
    ASSERT_EQ(counts.size(), 2u);
    EXPECT_EQ(counts[0].key_version, 1);
    EXPECT_EQ(counts[0].credentials, 3);
    EXPECT_EQ(counts[1].key_version, 2);
    EXPECT_EQ(counts[1].credentials, 1);

    auto first = [](store_tx& tx) { return tx.credentials_with_key_version(1, "", 2); };
    const auto page1 = transact(std::move(first)).value();
    ASSERT_EQ(page1.size(), 2u);
    EXPECT_EQ(page1[0].user_id, "a");
    EXPECT_EQ(page1[1].user_id, "b");
    auto second = [](store_tx& tx) { return tx.credentials_with_key_version(1, "b", 2); };
    const auto page2 = transact(std::move(second)).value();
    ASSERT_EQ(page2.size(), 1u);
    EXPECT_EQ(page2[0].user_id, "d");
}

TEST_P(store_credentials, append_audit_refuses_a_gap_and_a_repeat) {
    EXPECT_FALSE(append(audit(2, "admin", "alice")));  // the first is 1
    ASSERT_TRUE(append(audit(1, "admin", "alice")));
    auto gap = append(audit(3, "admin", "alice"));
    ASSERT_FALSE(gap);
    EXPECT_NE(gap.error().message.find("append_audit"), std::string::npos) << gap.error().message;
    EXPECT_FALSE(append(audit(1, "admin", "alice")));
    ASSERT_TRUE(append(audit(2, "admin", "alice")));

    auto head = [](store_tx& tx) { return tx.last_audit(); };
    const auto last = transact(std::move(head)).value();
    ASSERT_TRUE(last);
    EXPECT_EQ(last->seq, 2);
    EXPECT_EQ(last->mac, (byte_string{2, 0xaa}));
}

TEST_P(store_credentials, audit_pages_by_user_as_actor_or_target_and_all_in_order) {
    ASSERT_TRUE(append(audit(1, "admin", "alice")));
    ASSERT_TRUE(append(audit(2, "bob", "bob")));
    ASSERT_TRUE(append(audit(3, "alice", "alice")));
    ASSERT_TRUE(append(audit(4, "admin", "carol")));

    auto alice = [](store_tx& tx) { return tx.audit_page("alice", 0, 10); };
    const auto for_alice = transact(std::move(alice)).value();
    ASSERT_EQ(for_alice.size(), 2u);
    EXPECT_EQ(for_alice[0].seq, 1);
    EXPECT_EQ(for_alice[1].seq, 3);
    auto admin_after_1 = [](store_tx& tx) { return tx.audit_page("admin", 1, 10); };
    const auto for_admin = transact(std::move(admin_after_1)).value();
    ASSERT_EQ(for_admin.size(), 1u);
    EXPECT_EQ(for_admin[0].seq, 4);
    EXPECT_EQ(for_admin[0].target, "carol");

    std::vector<std::int64_t> seqs;
    std::int64_t after = 0;
    for (int pages = 0; pages < 10; ++pages) {
        auto page = [after](store_tx& tx) { return tx.audit_all(after, 3); };
        const auto rows = transact(std::move(page)).value();
        if (rows.empty()) break;
        for (const auto& row : rows) seqs.push_back(row.seq);
        after = rows.back().seq;
    }
    EXPECT_EQ(seqs, (std::vector<std::int64_t>{1, 2, 3, 4}));
}

TEST_P(store_credentials, a_pacing_record_is_saved_and_loaded_per_username) {
    auto none = [](store_tx& tx) { return tx.load_pacing("ibkr-user"); };
    EXPECT_FALSE(transact(none).value());
    auto save = [](store_tx& tx) { return tx.save_pacing("ibkr-user", "sessiond-pacing 1\n", 10, std::nullopt); };
    ASSERT_TRUE(transact(std::move(save)));
    auto again = [](store_tx& tx) { return tx.save_pacing("ibkr-user", "sessiond-pacing 1\nvalidate 5\n", 20, std::nullopt); };
    ASSERT_TRUE(transact(std::move(again)));
    EXPECT_EQ(transact(none).value(), std::optional<std::string>("sessiond-pacing 1\nvalidate 5\n"));
}

INSTANTIATE_TEST_SUITE_P(engines, store_credentials, each_engine::all, engine_name);

}  // namespace
}  // namespace sessiond
