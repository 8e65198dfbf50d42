// The user directory over a real SQLite store and the real vault; the sessions side is the test's
// recorder (what the daemon does with it is the integration suite's: multi_user_test).

#include "sessiond/users/user_service.hpp"

#include "sessiond/users/api_token.hpp"
#include "support/test_keys.hpp"
#include "unit/store/store_test_support.hpp"

#include <boost/json.hpp>

#include <sqlite3.h>

#include <gtest/gtest.h>

#include <map>

namespace sessiond {
namespace {

namespace json = boost::json;
using store_test::await_on;
using store_test::store_fixture;

std::shared_ptr<const master_keyring> one_key() {
    std::map<std::uint32_t, secret> keys;
    keys.emplace(1, secret(std::string(32, 'k')));
    return std::make_shared<const master_keyring>(*master_keyring::from_keys(std::move(keys)));
}

// Records what the directory asks of the sessions; proves credentials as told.
class recorded_sessions final : public user_sessions {
public:
    step_outcome next_proof = step_outcome{};  // ok by default
    int proofs = 0;
    std::map<std::string, std::string> kept;  // user id -> key fingerprint
    std::vector<std::string> dropped;

    boost::asio::awaitable<step_outcome> prove(const ibkr_profile& /*profile*/) override {
        ++proofs;
        co_return next_proof;
    }
    void keep(const std::string& user_id, ibkr_profile profile) override {
        kept[user_id] = profile.private_key->fingerprint();
    }
    void drop(const std::string& user_id) override {
        kept.erase(user_id);
        dropped.push_back(user_id);
    }
    [[nodiscard]] std::string state_line(std::string_view user_id) const override {
        return kept.contains(std::string(user_id)) ? "connected" : "no credentials";
    }
    [[nodiscard]] std::optional<json::object> status(std::string_view /*user_id*/) const override { return std::nullopt; }
    bool run_test(const std::string& /*user_id*/, std::function<void(const connection_test_report&)> /*done*/) override {
        return false;
    }
};

std::string body_for(const std::string& pem, std::string username = "ibkr-alice") {
    return json::serialize(json::object{{"client_id", "client-a"},
                                        {"client_key_id", "main"},
                                        {"private_key", pem},
                                        {"credential", username},
                                        {"account_id", "DU0000001"},
                                        {"allowed_ip", "127.0.0.1"},
                                        {"environment", "paper"}});
}

template <class T>
const user_problem& problem_of(const user_result<T>& r) {
    static const user_problem none{};
    const auto* p = std::get_if<user_problem>(&r);
    EXPECT_NE(p, nullptr) << "expected a problem";
    return p != nullptr ? *p : none;
}

template <class T>
const T& value_of(const user_result<T>& r) {
    const auto* p = std::get_if<user_problem>(&r);
    if (p != nullptr) ADD_FAILURE() << "problem " << p->status << ": " << p->title << ": " << p->detail;
    return std::get<T>(r);
}

class user_service_test : public store_fixture {
protected:
    void SetUp() override {
        store_fixture::SetUp();
        service = std::make_unique<user_service>(io.get_executor(), *store, keyring, sessions, logger());
    }

    template <class T>
    T run(boost::asio::awaitable<T> a) {
        return await_on(io, std::move(a));
    }

    std::string create(const std::string& id) {
        const auto r = run(service->create_user(admin, id));
        const user_created& c = value_of(r);
        EXPECT_TRUE(c.created);
        return c.token ? std::string(c.token->reveal()) : std::string();
    }

    std::vector<std::string> actions() {
        std::vector<std::string> out;
        const auto page = run(service->audit_page(admin, {}));
        for (const auto& e : value_of(page)) out.push_back(e.action + ":" + e.outcome);
        return out;
    }

    caller admin{caller::kind::admin, {}, "127.0.0.1"};
    std::shared_ptr<const master_keyring> keyring = one_key();
    recorded_sessions sessions;
    std::unique_ptr<user_service> service;
};

TEST_F(user_service_test, a_user_is_created_once_with_a_token_shown_once_and_found_by_it) {
    const std::string token = create("alice");
    EXPECT_TRUE(token.starts_with(api_token_prefix));
    EXPECT_EQ(service->user_for_token(token), "alice");
    EXPECT_EQ(service->user_for_token(token + "x"), std::nullopt);
    EXPECT_EQ(service->user_for_token("alice"), std::nullopt);

    const auto again = run(service->create_user(admin, "alice"));
    EXPECT_FALSE(value_of(again).created);
    EXPECT_FALSE(value_of(again).token.has_value());
    EXPECT_EQ(actions(), (std::vector<std::string>{"user.create:ok", "user.create:exists"}));
}

TEST_F(user_service_test, a_replaced_token_revokes_the_old_one) {
    const std::string old_token = create("alice");
    const auto replaced = run(service->replace_token(admin, "alice"));
    const std::string new_token(value_of(replaced).reveal());
    EXPECT_NE(new_token, old_token);
    EXPECT_EQ(service->user_for_token(old_token), std::nullopt);
    EXPECT_EQ(service->user_for_token(new_token), "alice");
    EXPECT_EQ(problem_of(run(service->replace_token(admin, "bob"))).status, 404u);
}

TEST_F(user_service_test, users_are_listed_in_pages) {
    for (const char* id : {"carol", "alice", "bob"}) create(id);
    const auto first = run(service->list_users(admin, "", 2));
    ASSERT_EQ(value_of(first).users.size(), 2u);
    EXPECT_EQ(value_of(first).users[0].id, "alice");
    EXPECT_EQ(value_of(first).users[1].id, "bob");
    EXPECT_EQ(value_of(first).users[1].state, "no credentials");
    ASSERT_TRUE(value_of(first).next.has_value());
    const auto second = run(service->list_users(admin, *value_of(first).next, 2));
    ASSERT_EQ(value_of(second).users.size(), 1u);
    EXPECT_EQ(value_of(second).users[0].id, "carol");
    EXPECT_FALSE(value_of(second).next.has_value());
}

TEST_F(user_service_test, credentials_proved_by_ibkr_are_sealed_stored_audited_and_their_session_kept) {
    create("alice");
    const auto& key = testing::shared_rsa_key();
    const auto stored = run(service->put_credentials(admin, "alice", body_for(key.pkcs8_pem), std::nullopt));
    const credential_stored& s = value_of(stored);
    EXPECT_TRUE(s.created);
    EXPECT_EQ(s.metadata.username, "ibkr-alice");
    EXPECT_EQ(s.metadata.environment, "paper");
    EXPECT_EQ(sessions.proofs, 1);
    ASSERT_TRUE(sessions.kept.contains("alice"));
    EXPECT_EQ(sessions.kept["alice"], s.metadata.key_fingerprint);

    const auto row = transact([](store_tx& tx) { return tx.find_credential("alice"); });
    ASSERT_TRUE(row && *row);
    EXPECT_EQ((*row)->key_version, 1);
    const std::string record((*row)->key_record.begin(), (*row)->key_record.end());
    EXPECT_EQ(record.find("PRIVATE"), std::string::npos);

    // Replaced only with the ETag it has now.
    const auto stale = run(service->put_credentials(admin, "alice", body_for(key.pkcs1_pem), std::string("\"nope\"")));
    EXPECT_EQ(problem_of(stale).status, 412u);
    const auto replaced = run(service->put_credentials(admin, "alice", body_for(key.pkcs1_pem), s.metadata.etag));
    EXPECT_FALSE(value_of(replaced).created);
    EXPECT_NE(value_of(replaced).metadata.etag, s.metadata.etag);
    EXPECT_EQ(value_of(replaced).metadata.created_ms, s.metadata.created_ms);
    EXPECT_EQ(actions(), (std::vector<std::string>{"user.create:ok", "credential.validate:ok", "credential.create:ok",
                                                   "credential.validate:ok", "credential.replace:ok"}));
    const auto verdict = transact([this](store_tx& tx) { return verify_audit_log(tx, *keyring); });
    ASSERT_TRUE(verdict);
    EXPECT_TRUE(verdict->fully_verified()) << verdict->chain.message;
}

TEST_F(user_service_test, invalid_fields_answer_422_by_field_without_asking_ibkr) {
    create("alice");
    std::string body = body_for("not a key");
    const auto r = run(service->put_credentials(admin, "alice", body, std::nullopt));
    const user_problem& p = problem_of(r);
    EXPECT_EQ(p.status, 422u);
    ASSERT_FALSE(p.fields.empty());
    EXPECT_EQ(p.fields.front().field, "private_key");
    EXPECT_EQ(p.detail, "the request names " + std::to_string(p.fields.size()) + " problem(s); see errors");
    EXPECT_EQ(sessions.proofs, 0);
}

TEST_F(user_service_test, ibkr_refusing_answers_422_and_ibkr_unreachable_503_and_neither_stores_anything) {
    create("alice");
    const auto& key = testing::shared_rsa_key();
    sessions.next_proof = failed_outcome(step::oauth, failure::unauthorized, "invalid_client", 401);
    const auto refused = run(service->put_credentials(admin, "alice", body_for(key.pkcs8_pem), std::nullopt));
    EXPECT_EQ(problem_of(refused).status, 422u);
    EXPECT_EQ(problem_of(refused).fields.size(), 3u);

    sessions.next_proof = failed_outcome(step::oauth, failure::timeout, "no answer within 10 s");
    const auto unreachable = run(service->put_credentials(admin, "alice", body_for(key.pkcs8_pem), std::nullopt));
    EXPECT_EQ(problem_of(unreachable).status, 503u);
    EXPECT_EQ(problem_of(unreachable).retry_after, std::chrono::seconds(60));

    EXPECT_TRUE(sessions.kept.empty());
    EXPECT_EQ(problem_of(run(service->get_credentials(admin, "alice"))).status, 404u);
    EXPECT_EQ(actions(), (std::vector<std::string>{"user.create:ok", "credential.validate:refused",
                                                   "credential.validate:unavailable"}));
}

TEST_F(user_service_test, one_ibkr_username_belongs_to_one_user) {
    create("alice");
    create("bob");
    const auto& key = testing::shared_rsa_key();
    value_of(run(service->put_credentials(admin, "alice", body_for(key.pkcs8_pem), std::nullopt)));
    const auto taken = run(service->put_credentials(admin, "bob", body_for(key.pkcs8_pem), std::nullopt));
    EXPECT_EQ(problem_of(taken).status, 409u);
    EXPECT_EQ(problem_of(taken).detail.find("alice"), std::string::npos) << "another user is never named";
}

TEST_F(user_service_test, deleting_a_user_drops_their_session_token_and_credential) {
    const std::string token = create("alice");
    value_of(run(service->put_credentials(admin, "alice", body_for(testing::shared_rsa_key().pkcs8_pem), std::nullopt)));
    value_of(run(service->delete_user(admin, "alice")));
    EXPECT_EQ(sessions.dropped, std::vector<std::string>{"alice"});
    EXPECT_EQ(service->user_for_token(token), std::nullopt);
    const auto row = transact([](store_tx& tx) { return tx.find_credential("alice"); });
    ASSERT_TRUE(row);
    EXPECT_FALSE(row->has_value());
    EXPECT_EQ(problem_of(run(service->delete_user(admin, "alice"))).status, 404u);
}

TEST_F(user_service_test, a_flood_of_denied_requests_queues_a_bounded_number_and_counts_the_rest) {
    // Nothing runs until the loop does: 3,000 denials arrive while the database has written none.
    for (int i = 0; i < 3000; ++i) service->record_denied("198.51.100.7", "anonymous", "/api/users", 401);
    io.restart();
    io.run();
    const auto rows = transact([](store_tx& tx) { return tx.audit_all(0, 5000); });
    ASSERT_TRUE(rows);
    ASSERT_EQ(rows->size(), 1025u);
    EXPECT_EQ(rows->front().action, "request.denied");
    EXPECT_EQ(rows->at(1023).action, "request.denied");
    EXPECT_EQ(rows->back().action, "audit.unrecorded");
    EXPECT_EQ(rows->back().details, R"({"entries":1976})");
}

// Found by the 10,000-user benchmark: its daemon's stop queued 10,000 logouts at once, and all but
// about 4,800 were counted instead of written, under the bound meant for clients' floods.
TEST_F(user_service_test, session_events_are_all_written_however_many_arrive_at_once) {
    for (int i = 0; i < 3000; ++i)
        service->record_session_event("user-" + std::to_string(i), "session.logout", "ok", {});
    service->record_denied("198.51.100.7", "anonymous", "/api/users", 401);
    io.restart();
    io.run();
    const auto rows = transact([](store_tx& tx) { return tx.audit_all(0, 5000); });
    ASSERT_TRUE(rows);
    ASSERT_EQ(rows->size(), 3001u);
    for (int i = 0; i < 3000; ++i) {
        EXPECT_EQ(rows->at(static_cast<std::size_t>(i)).action, "session.logout");
        EXPECT_EQ(rows->at(static_cast<std::size_t>(i)).target, "user-" + std::to_string(i)) << "in the order they came";
    }
    EXPECT_EQ(rows->back().action, "request.denied");
    const auto verdict = transact([this](store_tx& tx) { return verify_audit_log(tx, *keyring); });
    ASSERT_TRUE(verdict);
    EXPECT_TRUE(verdict->fully_verified()) << "one chain across the batches: " << verdict->chain.message;
    EXPECT_EQ(verdict->entries, 3001);
}

TEST_F(user_service_test, a_restart_opens_each_credential_once_audited_and_refuses_a_row_moved_to_another_user) {
    const std::string alice_token = create("alice");
    create("bob");
    value_of(run(service->put_credentials(admin, "alice", body_for(testing::shared_rsa_key().pkcs8_pem), std::nullopt)));
    value_of(run(service->put_credentials(admin, "bob", body_for(testing::other_rsa_key().pkcs8_pem, "ibkr-bob"),
                                          std::nullopt)));
    const std::string alice_fingerprint = sessions.kept["alice"];

    recorded_sessions after_restart;
    user_service restarted(io.get_executor(), *store, keyring, after_restart, logger());
    const auto loaded = run(restarted.load());
    ASSERT_TRUE(loaded) << loaded.error().message;
    EXPECT_EQ(*loaded, 2u);
    EXPECT_EQ(after_restart.kept["alice"], alice_fingerprint);
    EXPECT_EQ(restarted.user_for_token(alice_token), "alice");

    // Someone with write access to the file gives bob alice's sealed key.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(file().c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "UPDATE credentials SET key_record = (SELECT key_record FROM credentials WHERE user_id = "
                           "'alice') WHERE user_id = 'bob'",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
    recorded_sessions after_tampering;
    user_service again(io.get_executor(), *store, keyring, after_tampering, logger());
    const auto reloaded = run(again.load());
    ASSERT_TRUE(reloaded);
    EXPECT_EQ(*reloaded, 1u);
    EXPECT_TRUE(after_tampering.kept.contains("alice"));
    EXPECT_FALSE(after_tampering.kept.contains("bob"));
    std::vector<std::string> decrypts;
    const auto audit = run(again.audit_page(admin, {}));
    for (const auto& e : value_of(audit))
        if (e.action == "key.decrypt") decrypts.push_back(e.target + ":" + e.outcome);
    EXPECT_EQ(decrypts, (std::vector<std::string>{"alice:ok", "bob:ok", "alice:ok", "bob:tampered"}));
}

}  // namespace
}  // namespace sessiond
