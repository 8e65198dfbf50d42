// Multi-user mode end to end: the real daemon with ENABLE_MULTI_USER=true, a master key file, its
// SQLite database in the test's state directory, and ibkr-sim serving several users (--users).
// Users are added, given credentials and deleted over the API as an operator would with curl; their
// sessions reach IBKR (the simulator) and the gateway serves each user only their own account.

#include "multi_user_fixture.hpp"

#include "sessiond/crypto/rsa_key.hpp"
#include "sessiond/users/sealed_key.hpp"
#include "sessiond/vault/credential_record.hpp"
#include "support/postgres_cluster.hpp"
#include "support/process_memory.hpp"
#include "support/test_keys.hpp"
#include "unit/store/store_test_support.hpp"
#include "unit/users/sealed_credentials.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <sstream>
#include <tuple>

namespace sessiond::testing {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using boost::beast::http::verb;

http_request_options bearer_of(const std::string& token) {
    http_request_options o;
    o.headers.emplace_back("Authorization", "Bearer " + token);
    return o;
}

// The private key's PKCS#8 DER: the bytes that must never reach the database in clear.
std::string der_of(const std::string& pem) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    unsigned char* der = nullptr;
    PKCS8_PRIV_KEY_INFO* info = EVP_PKEY2PKCS8(key);
    const int len = i2d_PKCS8_PRIV_KEY_INFO(info, &der);
    std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len));
    OPENSSL_free(der);
    PKCS8_PRIV_KEY_INFO_free(info);
    EVP_PKEY_free(key);
    return out;
}

// What must not be found in the daemon's memory between logins: a slice of the key's DER, and of
// each private number (d, p, q) as DER holds it (big-endian) and as OpenSSL's BIGNUMs on this
// machine do (little-endian words: the bytes reversed).
struct key_needles {
    std::vector<std::string> bytes;
    std::vector<std::string> names;
};
key_needles private_key_needles(const std::string& pem) {
    key_needles out;
    const std::string der = der_of(pem);
    out.bytes.push_back(der.substr(der.size() / 2, 48));
    out.names.emplace_back("48 bytes of the key's DER");
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    for (const char* param : {OSSL_PKEY_PARAM_RSA_D, OSSL_PKEY_PARAM_RSA_FACTOR1, OSSL_PKEY_PARAM_RSA_FACTOR2}) {
        BIGNUM* n = nullptr;
        if (EVP_PKEY_get_bn_param(key, param, &n) != 1) continue;
        std::string big(static_cast<std::size_t>(BN_num_bytes(n)), '\0');
        BN_bn2bin(n, reinterpret_cast<unsigned char*>(big.data()));
        BN_free(n);
        const std::string slice = big.substr(big.size() / 2, 32);
        out.bytes.push_back(slice);
        out.names.push_back(std::string("32 bytes of ") + param + " (big-endian)");
        out.bytes.emplace_back(slice.rbegin(), slice.rend());
        out.names.push_back(std::string("32 bytes of ") + param + " (little-endian)");
    }
    EVP_PKEY_free(key);
    return out;
}

std::string file_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST_F(multi_user, each_user_added_over_the_api_reaches_only_their_own_account_through_the_gateway) {
    daemon_process& d = start_daemon(multi_user_options());
    ASSERT_TRUE(d.wait_for_log("multi-user mode: 0 user(s)")) << d.output();

    const std::string alice = add_user(d, "alice");
    const std::string bob = add_user(d, "bob");
    ASSERT_FALSE(alice.empty());
    ASSERT_FALSE(bob.empty());
    ASSERT_NE(alice, bob);

    const http_result a = put_credentials(d, "alice", alice, credential_body(users_[0], users_[0].key->pkcs8_pem));
    EXPECT_EQ(a.status, 201u) << a.body;
    EXPECT_FALSE(a.header("ETag").empty());
    EXPECT_EQ(a.body.find("PRIVATE KEY"), std::string::npos);
    // The admin may give a user their credentials too.
    const http_result b = put_credentials(d, "bob", d.api_token(), credential_body(users_[1], users_[1].key->pkcs1_pem));
    EXPECT_EQ(b.status, 201u) << b.body;
    ASSERT_TRUE(d.wait_for_log("session connected", 2)) << d.output();
    // Each session's lines name it by its user, as the operator knows it.
    EXPECT_EQ(d.count_in_log("session connected: account DU0000001 (paper), server"), 1u);
    EXPECT_NE(d.log().find("session=alice state=connected"), std::string::npos) << d.log();
    EXPECT_NE(d.log().find("session=bob state=connected"), std::string::npos) << d.log();

    for (const auto& [token, mine, theirs] : {std::tuple{alice, "DU0000001", "DU0000002"}, std::tuple{bob, "DU0000002", "DU0000001"}}) {
        auto accounts = d.api().get("/v1/api/iserver/accounts", bearer(token));
        ASSERT_TRUE(accounts.has_value());
        EXPECT_EQ(accounts->status, 200u) << accounts->body;
        EXPECT_NE(accounts->body.find(mine), std::string::npos) << accounts->body;
        EXPECT_EQ(accounts->body.find(theirs), std::string::npos) << accounts->body;
    }
    // The gateway needs a user's token: neither the admin's nor none (loopback does not suffice).
    auto as_admin = d.api().get("/v1/api/iserver/accounts", bearer(d.api_token()));
    ASSERT_TRUE(as_admin.has_value());
    EXPECT_EQ(as_admin->status, 401u);
    auto anonymous = d.api().get("/v1/api/iserver/accounts");
    ASSERT_TRUE(anonymous.has_value());
    EXPECT_EQ(anonymous->status, 401u);

    // A user's token reaches their own resources only: another user's answer 404 as if there were none.
    auto own = d.api().get("/api/users/alice/ibkr-credentials", bearer(alice));
    ASSERT_TRUE(own.has_value());
    EXPECT_EQ(own->status, 200u) << own->body;
    EXPECT_EQ(own->json().at("username").as_string(), "ibkr-alice");
    auto other = d.api().get("/api/users/bob/ibkr-credentials", bearer(alice));
    auto nobody = d.api().get("/api/users/carol/ibkr-credentials", bearer(d.api_token()));
    ASSERT_TRUE(other && nobody);
    EXPECT_EQ(other->status, 404u);
    EXPECT_EQ(nobody->status, 404u);
    auto status = d.api().get("/api/ibkr/status", bearer(bob));
    ASSERT_TRUE(status.has_value());
    EXPECT_EQ(status->status, 200u);
    EXPECT_NE(status->body.find("DU0000002"), std::string::npos) << status->body;
    EXPECT_EQ(status->body.find("DU0000001"), std::string::npos) << status->body;

    expect_no_secrets(d.output(), users_[0].key->pkcs8_pem, {alice, bob, d.api_token()}, "the daemon's log");
    expect_no_secrets(d.output(), users_[1].key->pkcs8_pem, {}, "the daemon's log");
}

// A credential's proof is the start of a login: it takes a slot of the daemon-wide login rate like
// any other. A slot a few seconds away is waited for; a later one is answered 503 with when, and
// IBKR is not asked.
TEST_F(multi_user, a_proof_takes_a_slot_of_the_daemon_wide_login_rate_or_says_when_there_is_one) {
    daemon_options o = multi_user_options();
    o.environment["SESSIOND_DAEMON_LOGIN_INTERVAL"] = "60";
    daemon_process& d = start_daemon(std::move(o));
    ASSERT_TRUE(d.wait_for_log("multi-user mode: 0 user(s)")) << d.output();
    const std::string alice = add_user(d, "alice");
    const std::string bob = add_user(d, "bob");
    const http_result first = put_credentials(d, "alice", alice, credential_body(users_[0], users_[0].key->pkcs8_pem));
    ASSERT_EQ(first.status, 201u) << first.body;
    EXPECT_EQ(first.header("Location"), "/api/users/alice/ibkr-credentials");

    // alice's proof took the slot of now (and her session's login, once it starts, the next one): bob's
    // is one or two minutes off.
    const auto tokens_before = sim().state().at("tokens_issued").as_int64();
    const http_result second = put_credentials(d, "bob", bob, credential_body(users_[1], users_[1].key->pkcs8_pem));
    EXPECT_EQ(second.status, 503u) << second.body;
    EXPECT_EQ(second.header("Content-Type"), "application/problem+json");
    EXPECT_NE(second.body.find("login rate"), std::string::npos) << second.body;
    const int retry_after = std::stoi(second.header("Retry-After").empty() ? "0" : second.header("Retry-After"));
    EXPECT_GE(retry_after, 50) << second.body;
    EXPECT_LE(retry_after, 120) << second.body;
    EXPECT_EQ(sim().state().at("tokens_issued").as_int64(), tokens_before);
    auto stored = d.api().get("/api/users/bob/ibkr-credentials", bearer(bob));
    ASSERT_TRUE(stored.has_value());
    EXPECT_EQ(stored->status, 404u);
}

TEST_F(multi_user, the_database_file_its_wal_and_journal_never_hold_the_key_in_any_form) {
    const std::string alice = start_with_alice_connected(users_[0].key->pkcs1_pem).alice;
    ASSERT_FALSE(HasFailure());

    const std::string der = der_of(users_[0].key->pkcs8_pem);
    const std::string pkcs1_der_part = der.substr(der.size() / 2, 64);  // inside the RSA key's own DER
    std::size_t scanned = 0;
    for (const char* suffix : {"", "-wal", "-journal", "-shm"}) {
        const fs::path file = state_dir_ / (std::string("sessiond.sqlite3") + suffix);
        if (!fs::exists(file)) continue;
        const std::string bytes = file_bytes(file);
        scanned += bytes.size();
        EXPECT_EQ(bytes.find(der), std::string::npos) << file;
        EXPECT_EQ(bytes.find(pkcs1_der_part), std::string::npos) << file;
        EXPECT_EQ(bytes.find("PRIVATE KEY"), std::string::npos) << file;
        std::istringstream pem(users_[0].key->pkcs1_pem + users_[0].key->pkcs8_pem);
        for (std::string line; std::getline(pem, line);)
            if (line.size() > 20) EXPECT_EQ(bytes.find(line), std::string::npos) << file << ": a PEM line";
        EXPECT_EQ(bytes.find(alice), std::string::npos) << file << ": the user's token in clear";
    }
    EXPECT_GT(scanned, 0u);
}

TEST_F(multi_user, credentials_ibkr_refuses_answer_422_and_nothing_is_stored) {
    daemon_process& d = start_daemon(multi_user_options());
    ASSERT_TRUE(d.wait_for_log("multi-user mode: 0 user(s)")) << d.output();
    const std::string alice = add_user(d, "alice");
    // bob's key under alice's client: a well-formed key IBKR does not know for that client.
    const http_result refused = put_credentials(d, "alice", alice, credential_body(users_[0], users_[1].key->pkcs8_pem));
    EXPECT_EQ(refused.status, 422u) << refused.body;
    EXPECT_EQ(refused.header("Content-Type"), "application/problem+json");
    EXPECT_NE(refused.body.find("private_key"), std::string::npos) << refused.body;
    auto stored = d.api().get("/api/users/alice/ibkr-credentials", bearer(alice));
    ASSERT_TRUE(stored.has_value());
    EXPECT_EQ(stored->status, 404u);
    // A field the settings' rules refuse never reaches IBKR.
    const auto tokens_before = sim().state().at("tokens_issued").as_int64();
    std::string bad = credential_body(users_[0], users_[0].key->pkcs8_pem);
    bad.replace(bad.find("127.0.0.1"), 9, "not-an-ip");
    const http_result invalid = put_credentials(d, "alice", alice, bad);
    EXPECT_EQ(invalid.status, 422u);
    EXPECT_NE(invalid.body.find("allowed_ip"), std::string::npos) << invalid.body;
    EXPECT_EQ(sim().state().at("tokens_issued").as_int64(), tokens_before);
}

TEST_F(multi_user, a_user_deleted_while_connected_is_logged_out_audited_and_refused_by_the_gateway) {
    daemon_process& d = start_daemon(multi_user_options());
    ASSERT_TRUE(d.wait_for_log("multi-user mode: 0 user(s)")) << d.output();
    const std::string alice = add_user(d, "alice");
    EXPECT_EQ(put_credentials(d, "alice", alice, credential_body(users_[0], users_[0].key->pkcs8_pem)).status, 201u);
    ASSERT_TRUE(d.wait_for_log("session connected")) << d.output();

    auto deleted = d.api().request(verb::delete_, "/api/users/alice", {}, bearer(d.api_token()));
    ASSERT_TRUE(deleted.has_value());
    EXPECT_EQ(deleted->status, 204u) << deleted->body;
    EXPECT_TRUE(sim().await_calls("/v1/api/logout", 1, 20s)) << d.output();
    EXPECT_TRUE(d.wait_for_log("session.logout by daemon from local on alice: ok")) << d.output();
    auto gateway = d.api().get("/v1/api/iserver/accounts", bearer(alice));
    ASSERT_TRUE(gateway.has_value());
    EXPECT_EQ(gateway->status, 401u);
    auto audit = d.api().get("/api/audit?user=alice", bearer(d.api_token()));
    ASSERT_TRUE(audit.has_value());
    EXPECT_EQ(audit->status, 200u) << audit->body;
    std::vector<std::string> actions;
    const json::value page = audit->json();
    for (const auto& e : page.at("entries").as_array())
        actions.emplace_back(e.at("action").as_string());
    EXPECT_EQ(actions, (std::vector<std::string>{"user.create", "credential.validate", "credential.create",
                                                 "session.login", "user.delete", "session.logout"}));
}

// Between logins the daemon holds no plaintext of a user's key (README, "Keys in memory"): neither
// once the credential came in over the API (parsed, proven, sealed, the parsed key freed) nor after
// a restart (the record opened at start, and for each login's signatures). Looked for in every
// writable mapping of the idle daemon, freed heap included.
TEST_F(multi_user, between_logins_the_daemons_memory_holds_no_plaintext_of_a_users_key) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    // Their shadow memory is terabytes of writable mappings (reading it outlasts the test's timeout),
    // and their allocators hold freed blocks back on purpose: the plain build's daemon is the one
    // whose memory means something.
    GTEST_SKIP() << "the daemon's memory is read in the plain test build only";
#endif
    const key_needles needles = private_key_needles(users_[0].key->pkcs8_pem);
    ASSERT_EQ(needles.bytes.size(), 7u);
    auto holds = [&needles](daemon_process& d) -> std::optional<std::vector<std::string>> {
        const auto found = find_in_process_memory(d.pid(), needles.bytes);
        if (!found) return std::nullopt;
        std::vector<std::string> names;
        for (const std::size_t i : *found) names.push_back(needles.names[i]);
        return names;
    };
    {
        daemon_process& d = start_with_alice_connected(users_[0].key->pkcs1_pem).daemon;
        ASSERT_FALSE(HasFailure());
        const auto found = holds(d);
        if (!found) GTEST_SKIP() << "the daemon's memory cannot be read here (/proc/<pid>/mem needs root or ptrace)";
        EXPECT_EQ(*found, std::vector<std::string>{}) << "after the credential came in over the API";
        EXPECT_EQ(d.stop(), 0);
    }
    daemon_process& again = start_daemon(multi_user_options());
    ASSERT_TRUE(again.wait_for_log("session connected")) << again.output();
    const auto found = holds(again);
    ASSERT_TRUE(found);
    EXPECT_EQ(*found, std::vector<std::string>{}) << "after a restart";
}

TEST_F(multi_user, a_restart_opens_every_stored_credential_and_connects_again) {
    {
        daemon_process& d = start_with_alice_connected(users_[0].key->pkcs8_pem).daemon;
        ASSERT_FALSE(HasFailure());
        EXPECT_EQ(d.stop(), 0);
    }
    daemon_process& again = start_daemon(multi_user_options());
    EXPECT_TRUE(again.wait_for_log("multi-user mode: 1 user(s)")) << again.output();
    EXPECT_TRUE(again.wait_for_log("session connected")) << again.output();
    EXPECT_TRUE(again.wait_for_log("key.decrypt by daemon from local on alice: ok")) << again.output();
}

TEST_F(multi_user, on_postgresql_users_credentials_and_the_audit_chain_outlive_a_restart) {
    database_ = postgres_cluster::shared().create_database();
    {
        daemon_process& d = start_with_alice_connected(users_[0].key->pkcs8_pem).daemon;
        ASSERT_FALSE(HasFailure());
        EXPECT_TRUE(d.wait_for_log("sealed IBKR credentials in postgresql sessiond_test@")) << d.output();
        EXPECT_EQ(d.stop(), 0);
    }
    EXPECT_FALSE(fs::exists(state_dir_ / "sessiond.sqlite3")) << "no SQLite file beside the server";
    daemon_process& again = start_daemon(multi_user_options());
    EXPECT_TRUE(again.wait_for_log("multi-user mode: 1 user(s)")) << again.output();
    EXPECT_TRUE(again.wait_for_log("session connected")) << again.output();
    EXPECT_TRUE(again.wait_for_log("key.decrypt by daemon from local on alice: ok")) << again.output();

    // The operator's commands beside the running daemon, on the same server.
    const environment_overrides env{{"SESSIOND_DATABASE", database_},
                                    {"SESSIOND_MASTER_KEY_FILE", master_key_.string()},
                                    {"HOME", dir_.path().string()}};
    const auto verify = run_sessiond(env, {"audit", "verify"});
    EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
    EXPECT_TRUE(verify.out.find("intact") != std::string::npos) << verify.out;
    const auto status = run_sessiond(env, {"keys", "status"});
    EXPECT_EQ(status.exit_code, 0) << status.out << status.err;
    EXPECT_TRUE(status.out.find("seals 1 credential") != std::string::npos) << status.out;
}

// The start-up read fails (here a column renamed by hand; in life a database restarting or busy):
// the daemon says so and tries again until it succeeds, then starts the sessions. It never stays
// up without them.
TEST_F(multi_user, a_failed_start_up_read_of_the_users_is_tried_again_until_it_succeeds) {
    database_ = postgres_cluster::shared().create_database();
    {
        daemon_process& d = start_with_alice_connected(users_[0].key->pkcs8_pem).daemon;
        ASSERT_FALSE(HasFailure());
        EXPECT_EQ(d.stop(), 0);
    }
    postgres_cluster& pg = postgres_cluster::shared();
    pg.execute(database_, "ALTER TABLE credentials RENAME COLUMN username TO username_elsewhere");
    daemon_process& again = start_daemon(multi_user_options());
    EXPECT_TRUE(again.wait_for_log("no user's session runs until it succeeds; trying again in 5 s")) << again.output();
    pg.execute(database_, "ALTER TABLE credentials RENAME COLUMN username_elsewhere TO username");
    EXPECT_TRUE(again.wait_for_log("multi-user mode: 1 user(s)", 1, std::chrono::seconds(30))) << again.output();
    EXPECT_TRUE(again.wait_for_log("session connected", 1, std::chrono::seconds(30))) << again.output();
}

// Until replicas share a database with leases, a second daemon on the same PostgreSQL database
// would log every user in again, each daemon ending the other's sessions: it refuses to start.
TEST_F(multi_user, on_postgresql_a_second_daemon_on_the_same_database_refuses_to_start) {
    database_ = postgres_cluster::shared().create_database();
    daemon_process& first = start_daemon(multi_user_options());
    ASSERT_TRUE(first.wait_for_log("multi-user mode: 0 user(s)")) << first.output();

    environment_overrides env = daemon_environment(sim(), dir_.write("key.pem", shared_rsa_key().pkcs8_pem));
    env["HOME"] = dir_.path().string();
    env["SESSIOND_API_TOKEN"] = canary_api_token();
    for (auto& [name, value] : multi_user_options().environment) env[name] = value;
    env["SESSIOND_STATE_DIR"] = (dir_.path() / "second-state").string();
    env["SESSIOND_LISTEN"] = "127.0.0.1:0";
    const command_result second = run_sessiond(env, {"run"});
    EXPECT_EQ(second.exit_code, 78) << second.err;
    EXPECT_NE(second.err.find("another ibkr-sessiond serves this database"), std::string::npos) << second.err;
    EXPECT_TRUE(first.running());
}

TEST_F(multi_user, refuses_to_start_without_a_master_key_and_says_how_to_make_one) {
    environment_overrides env = daemon_environment(sim(), dir_.write("key.pem", shared_rsa_key().pkcs8_pem));
    env["HOME"] = dir_.path().string();
    env["SESSIOND_API_TOKEN"] = canary_api_token();
    for (auto& [name, value] : multi_user_options().environment) env[name] = value;
    env["SESSIOND_MASTER_KEY_FILE"] = std::nullopt;
    const command_result run = run_sessiond(env, {"run"});
    EXPECT_EQ(run.exit_code, 78) << run.err;
    EXPECT_NE(run.err.find("multi-user mode needs its master key: no master key is configured"), std::string::npos)
        << run.err;
    EXPECT_NE(run.err.find("head -c 32 /dev/urandom"), std::string::npos) << "says how to make one: " << run.err;
    EXPECT_FALSE(fs::exists(state_dir_ / "sessiond.sqlite3"));
}

// 1,000 users stored before the start (sealed as the daemon seals them, through the library): the
// daemon opens every credential, and their logins go out one SESSIOND_DAEMON_LOGIN_INTERVAL apart
// rather than all at once, until every session is connected.
class many_users : public daemon_fixture {};

TEST_F(many_users, a_thousand_users_start_within_the_daemon_wide_login_rate_and_all_connect) {
    constexpr int users = 1000;
    // 1,000 logins over at least 40 s, spread over 10 OAuth clients of 100 users each: ibkr-sim (as
    // IBKR) allows a client 10 token and SSO requests a second, and a login is one of each.
    constexpr int clients = 10;
    constexpr double interval = 0.04;
    temp_dir dir;
    const fs::path public_key = dir.write("client.pem", shared_rsa_key().public_pem);
    json::array list;
    for (int i = 0; i < users; ++i) {
        const std::string n = std::to_string(i);
        list.push_back(json::object{{"client_id", "client-" + std::to_string(i % clients)},
                                    {"key_id", "main"},
                                    {"public_key_file", public_key.string()},
                                    {"username", "ibkr-user-" + n},
                                    {"accounts", json::array{json::value("DU" + std::string(7 - n.size(), '0') + n)}},
                                    {"environment", "paper"},
                                    {"allowed_ip", "127.0.0.1"}});
    }
    sim_options o = fast_sim();
    o.users_file = dir.write("users.json", json::serialize(json::object{{"users", std::move(list)}})).string();
    // The sessions share the daemon's connections to IBKR (idle_connections.hpp): at most 64 calls in
    // flight and 32 idle connections, never one per session; the simulator refuses the 97th at once.
    o.extra_args = {"--max-connections", "96"};
    start_sim(std::move(o));

    const std::string key(32, 'm');
    const fs::path master_key = dir.write("master-key", key);
    fs::permissions(master_key, fs::perms::owner_read);
    const fs::path state = dir.path() / "state";
    fs::create_directories(state);
    {
        std::map<std::uint32_t, secret> keys;
        keys.emplace(1, secret(key));
        const auto keyring = std::make_shared<const master_keyring>(*master_keyring::from_keys(std::move(keys)));
        boost::asio::io_context io;
        auto store = store_test::open_store(io, state / "sessiond.sqlite3");
        ASSERT_NE(store, nullptr);
        const auto der = rsa_private_key::from_pem(shared_rsa_key().pkcs8_pem)->pkcs8_der();
        auto fill = [&keyring, &der](store_tx& tx) -> expected<void> {
            for (int i = 0; i < users; ++i) {
                const std::string n = std::to_string(i);
                credential_row c = store_test::credential_for("user-" + n);
                c.client_id = "client-" + std::to_string(i % clients);
                c.client_key_id = "main";
                c.username = "ibkr-user-" + n;
                c.account_id = "DU" + std::string(7 - n.size(), '0') + n;
                c.allowed_ip = "127.0.0.1";
                c.environment = "paper";
                c.credential_id = "credential-" + n;
                const std::string record = seal_record(*keyring, key_record_binding(c), der.reveal()).value();
                c.key_record.assign(record.begin(), record.end());
                if (auto put = users_test::put_with_user(tx, c); !put) return put.error();
            }
            return {};
        };
        const auto filled = store_test::await_on(io, store->transact(std::move(fill)));
        ASSERT_TRUE(filled) << filled.error().message;
    }

    daemon_options d;
    d.environment["ENABLE_MULTI_USER"] = "true";
    d.environment["SESSIOND_MASTER_KEY_FILE"] = master_key.string();
    d.environment["SESSIOND_STATE_DIR"] = state.string();
    d.environment["SESSIOND_DAEMON_LOGIN_INTERVAL"] = std::to_string(interval);
    d.environment["IBKR_TICKLE_INTERVAL"] = "60";  // this test is about the start, not about 1,000 tickles a second
    d.environment["IBKR_PACE_VALIDATE"] = "60";
    d.args = {"run"};  // info: the debug lines of 1,000 sessions would only slow the test down
    for (const char* name : {"IBKR_CLIENT_ID", "IBKR_CLIENT_KEY_ID", "IBKR_PRIVATE_KEY_FILE", "IBKR_CREDENTIAL",
                             "IBKR_ACCOUNT_ID", "IBKR_ALLOWED_IP", "IBKR_ENV"})
        d.environment[name] = std::nullopt;
    daemon_process& daemon = start_daemon(std::move(d));
    ASSERT_TRUE(daemon.wait_for_log("multi-user mode: 1000 user(s)", 1, 60s)) << daemon.output().substr(0, 4000);
    ASSERT_TRUE(daemon.wait_for_log("session connected", users, 300s))
        << daemon.count_in_log("session connected") << " connected; the log's end:\n"
        << daemon.log().substr(daemon.log().size() > 6000 ? daemon.log().size() - 6000 : 0);

    // The logins (their OAuth token requests, as the daemon logged them) never came faster than the
    // daemon-wide rate allows: in any second, at most one per interval (and one for the edge).
    std::vector<std::int64_t> at_ms;
    std::istringstream lines(daemon.log());
    for (std::string line; std::getline(lines, line);) {
        if (line.find(" oauth: HTTP 200") == std::string::npos) continue;
        // 2026-12-05T10:36:09.852+00:00
        const int h = std::stoi(line.substr(11, 2)), m = std::stoi(line.substr(14, 2)), sec = std::stoi(line.substr(17, 2));
        const int ms = std::stoi(line.substr(20, 3));
        at_ms.push_back(((h * 60 + m) * 60 + sec) * 1000LL + ms);
    }
    ASSERT_EQ(at_ms.size(), static_cast<std::size_t>(users));
    std::sort(at_ms.begin(), at_ms.end());
    const auto per_second_allowed = static_cast<std::size_t>(1.0 / interval) + 1;
    std::size_t first = 0;
    std::size_t most = 0;
    for (std::size_t last = 0; last < at_ms.size(); ++last) {
        while (at_ms[last] - at_ms[first] >= 1000) ++first;
        most = std::max(most, last - first + 1);
    }
    EXPECT_LE(most, per_second_allowed + 5) << "logins in the busiest second";
    EXPECT_GE(at_ms.back() - at_ms.front(), static_cast<std::int64_t>((users - 1) * interval * 1000) - 1000);

    // Not one call failed on the way: no refused connection, no 429, no retry.
    EXPECT_EQ(daemon.count_in_log(" failed: "), 0u);
    EXPECT_EQ(daemon.count_in_log("oauth: HTTP 200"), static_cast<std::size_t>(users));

    auto status = daemon.api().get("/api/ibkr/status", bearer_of(daemon.api_token()));
    ASSERT_TRUE(status.has_value());
    const json::value summary = status->json();
    EXPECT_EQ(summary.at("multi_user").at("by_state").at("connected"), users) << status->body.substr(0, 2000);
    EXPECT_EQ(summary.at("status"), "connected");
}

}  // namespace
}  // namespace sessiond::testing
