#pragma once
// The multi-user suites' fixture: ibkr-sim serving several IBKR users (--users), a master key file,
// and what an operator does over the API with curl (add a user, store their credential).

#include "daemon_fixture.hpp"

#include "support/test_keys.hpp"

#include <boost/json.hpp>

#include <openssl/rand.h>

#include <filesystem>
#include <string>
#include <vector>

namespace sessiond::testing {

struct sim_user {
    std::string client_id;
    std::string username;
    std::string account;
    const rsa_test_key* key;
};

class multi_user : public daemon_fixture {
protected:
    void SetUp() override {
        start_sim_with({{"client-a", "ibkr-alice", "DU0000001", &shared_rsa_key()},
                        {"client-b", "ibkr-bob", "DU0000002", &other_rsa_key()}});
    }

    // ibkr-sim serving `users` (--users), and the master key of the daemons.
    void start_sim_with(std::vector<sim_user> users) {
        users_ = std::move(users);
        boost::json::array list;
        for (const auto& u : users_)
            list.push_back(boost::json::object{{"client_id", u.client_id},
                                        {"key_id", "main"},
                                        {"public_key", u.key->public_pem},
                                        {"username", u.username},
                                        {"accounts", boost::json::array{boost::json::value(u.account)}},
                                        {"environment", "paper"},
                                        {"allowed_ip", "127.0.0.1"}});
        sim_options o = fast_sim();
        o.users_file = dir_.write("users.json", boost::json::serialize(boost::json::object{{"users", std::move(list)}})).string();
        start_sim(std::move(o));

        unsigned char key[32];
        ASSERT_EQ(RAND_bytes(key, sizeof key), 1);
        master_key_ = dir_.write("master-key", std::string_view(reinterpret_cast<const char*>(key), sizeof key));
        std::filesystem::permissions(master_key_, std::filesystem::perms::owner_read);
        state_dir_ = dir_.path() / "state";
    }

    daemon_options multi_user_options() {
        daemon_options o;
        o.environment["ENABLE_MULTI_USER"] = "true";
        o.environment["SESSIOND_MASTER_KEY_FILE"] = master_key_.string();
        o.environment["SESSIOND_STATE_DIR"] = state_dir_.string();
        if (!database_.empty()) o.environment["SESSIOND_DATABASE"] = database_;
        for (const char* name : {"IBKR_CLIENT_ID", "IBKR_CLIENT_KEY_ID", "IBKR_PRIVATE_KEY_FILE", "IBKR_CREDENTIAL",
                                 "IBKR_ACCOUNT_ID", "IBKR_ALLOWED_IP", "IBKR_ENV"})
            o.environment[name] = std::nullopt;
        return o;
    }

    static http_request_options bearer(const std::string& token) {
        http_request_options o;
        o.headers.emplace_back("Authorization", "Bearer " + token);
        return o;
    }

    static http_request_options json_bearer(const std::string& token) {
        http_request_options o = bearer(token);
        o.content_type = "application/json";
        return o;
    }

    static std::string credential_body(const sim_user& u, const std::string& pem) {
        return boost::json::serialize(boost::json::object{{"client_id", u.client_id},
                                            {"client_key_id", "main"},
                                            {"private_key", pem},
                                            {"credential", u.username},
                                            {"account_id", u.account},
                                            {"allowed_ip", "127.0.0.1"},
                                            {"environment", "paper"}});
    }

    // PUT /api/users/{id} as the admin: the user's token.
    std::string add_user(daemon_process& d, const std::string& id) {
        auto r = d.api().request(boost::beast::http::verb::put, "/api/users/" + id, {}, bearer(d.api_token()));
        EXPECT_TRUE(r && r->status == 201) << (r ? r->body : r.error().message);
        if (!r || r->status != 201) return {};
        EXPECT_EQ(r->header("Location"), "/api/users/" + id);
        return std::string(r->json().at("token").as_string());
    }

    http_result put_credentials(daemon_process& d, const std::string& id, const std::string& token,
                                const std::string& body) {
        auto r = d.api().request(boost::beast::http::verb::put, "/api/users/" + id + "/ibkr-credentials", body, json_bearer(token));
        EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
        return r ? *r : http_result{};
    }

    // A daemon whose one user, alice, stored the credential `pem` over the API and is connected;
    // alice's token.
    struct started {
        daemon_process& daemon;
        std::string alice;
    };
    started start_with_alice_connected(const std::string& pem) {
        daemon_process& d = start_daemon(multi_user_options());
        EXPECT_TRUE(d.wait_for_log("multi-user mode: 0 user(s)")) << d.output();
        std::string alice = add_user(d, "alice");
        EXPECT_EQ(put_credentials(d, "alice", alice, credential_body(users_[0], pem)).status, 201u);
        EXPECT_TRUE(d.wait_for_log("session connected")) << d.output();
        return {d, std::move(alice)};
    }

    std::vector<sim_user> users_;
    temp_dir dir_;
    std::filesystem::path master_key_;
    std::filesystem::path state_dir_;
    std::string database_;  // SESSIOND_DATABASE when set; unset: SQLite in the state directory
};

}  // namespace sessiond::testing
