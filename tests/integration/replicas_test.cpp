// Several daemons (replicas) sharing one PostgreSQL database in multi-user mode: each user's IBKR
// session is held by one replica at a time, by lease. Real daemons, a real PostgreSQL 15 (the
// suite's throwaway cluster) and one ibkr-sim, which records every request made on a username's
// session by another replica than the one that opened its newest SSO session (an overlap). In every
// case here that count stays zero.
//
// The leases are short (SESSIOND_LEASE_TTL=6: renewals and claim rounds every second, self-fenced
// 3 s after a renewal was sent, with the tests' 2 s HTTP timeout) so that take-overs come quickly.

#include "multi_user_fixture.hpp"

#include "support/pausable_proxy.hpp"
#include "support/postgres_cluster.hpp"

#include <gtest/gtest.h>

#include <csignal>

namespace sessiond::testing {
namespace {

namespace json = boost::json;

class replicas : public multi_user {
protected:
    void SetUp() override {
        start_sim_with({{"client-a", "ibkr-alice", "DU0000001", &shared_rsa_key()},
                        {"client-b", "ibkr-bob", "DU0000002", &other_rsa_key()},
                        {"client-c", "ibkr-carol", "DU0000003", &shared_rsa_key()},
                        {"client-d", "ibkr-dave", "DU0000004", &other_rsa_key()}});
        database_ = postgres_cluster::shared().create_database();
    }

    // `database`: the connection string, when not the fixture's (another PostgreSQL role, say).
    daemon_process& start_replica(const std::string& id, const std::string& database = {}) {
        daemon_options o = multi_user_options();
        if (!database.empty()) o.environment["SESSIOND_DATABASE"] = database;
        o.environment["SESSIOND_REPLICA_ID"] = id;
        o.environment["SESSIOND_LEASE_TTL"] = "6";
        o.environment["SESSIOND_STATE_DIR"] = (state_dir_ / id).string();
        daemon_process& d = start_daemon(std::move(o));
        EXPECT_TRUE(d.wait_for_log("replica " + id + ": sharing the users")) << d.output();
        return d;
    }

    // Every sim user added over `d`'s API with their credential; their API tokens.
    std::vector<std::string> add_every_user(daemon_process& d) {
        std::vector<std::string> tokens;
        for (const auto& u : users_) {
            const std::string id = u.username.substr(5);  // "ibkr-alice" -> "alice"
            tokens.push_back(add_user(d, id));
            EXPECT_EQ(put_credentials(d, id, tokens.back(), credential_body(u, u.key->pkcs8_pem)).status, 201u);
        }
        return tokens;
    }

    // Replica a with every user connected, then b joining: two users each, connected, and the
    // tokens of the users (in users_ order).
    struct pair {
        daemon_process& a;
        daemon_process& b;
        std::vector<std::string> tokens;
    };
    pair balanced_pair() {
        daemon_process& a = start_replica("a");
        std::vector<std::string> tokens = add_every_user(a);
        EXPECT_TRUE(a.wait_for_log("session connected", 4, std::chrono::seconds(40))) << a.output();
        daemon_process& b = start_replica("b");
        // Replica a hands two users back (logged out first); b claims and connects them.
        EXPECT_TRUE(b.wait_for_log("session connected", 2, std::chrono::seconds(40))) << b.output();
        EXPECT_TRUE(a.wait_for_log("replica a: handing user", 2)) << a.output();
        return {a, b, std::move(tokens)};
    }

    std::int64_t overlaps() {
        const auto answer = sim().overlaps();
        const auto* n = answer.if_contains("count");
        EXPECT_TRUE(n != nullptr && n->is_int64()) << json::serialize(answer);
        return n != nullptr && n->is_int64() ? n->as_int64() : -1;
    }

    // SIGKILL: what it printed until then is still checked for secrets; the fixture then no longer
    // stops it.
    void kill(daemon_process& d) {
        d.send_signal(SIGKILL);
        EXPECT_TRUE(d.wait_exit(std::chrono::seconds(10)).has_value());
        expect_no_secrets(d.output(), d.private_key_pem(), sim().issued_tokens(), "killed replica's output");
        std::erase_if(daemons_, [&d](const auto& p) { return p.get() == &d; });
    }
};

TEST_F(replicas, a_joining_replica_takes_its_share_and_a_killed_replicas_users_move_to_the_survivor) {
    auto [a, b, tokens] = balanced_pair();
    ASSERT_FALSE(HasFailure());
    EXPECT_EQ(overlaps(), 0);
    auto listed = b.api().get("/api/users", bearer(b.api_token()));
    ASSERT_TRUE(listed && listed->status == 200);
    EXPECT_NE(listed->body.find("held by another replica"), std::string::npos) << listed->body;

    // The admin's summary, on either replica: both live, two users each, every lease with its holder.
    auto census = b.api().get("/api/replicas", bearer(b.api_token()));
    ASSERT_TRUE(census && census->status == 200) << (census ? census->body : "");
    const json::object summary = census->json().as_object();
    EXPECT_EQ(summary.at("this_replica").as_string(), "b");
    ASSERT_EQ(summary.at("replicas").as_array().size(), 2u) << census->body;
    for (const auto& r : summary.at("replicas").as_array()) {
        EXPECT_TRUE(r.as_object().at("live").as_bool()) << census->body;
        EXPECT_EQ(r.as_object().at("users").as_int64(), 2) << census->body;
    }
    ASSERT_EQ(summary.at("leases").as_array().size(), 4u) << census->body;
    // A user's status names the replica, its fencing token and the lease's end.
    auto status = a.api().get("/api/users/alice/ibkr/status", bearer(a.api_token()));
    ASSERT_TRUE(status && status->status == 200) << (status ? status->body : "");
    const json::value body = status->json();
    const json::object& replica = body.as_object().at("replica").as_object();
    EXPECT_EQ(replica.at("id").as_string(), "a");
    EXPECT_TRUE(replica.at("holds_lease").as_bool()) << "alice, first by id, stays on a";
    EXPECT_GE(replica.at("fencing_token").as_int64(), 1);
    EXPECT_TRUE(replica.contains("lease_expires_at"));
    // On the other replica: where it is, not "not configured".
    auto elsewhere = b.api().get("/api/users/alice/ibkr/status", bearer(b.api_token()));
    ASSERT_TRUE(elsewhere && elsewhere->status == 200);
    EXPECT_EQ(elsewhere->json().as_object().at("status").as_string(), "elsewhere") << elsewhere->body;

    // Through the gateway, each user's call works on the replica holding the session; the other
    // answers 503 at once and names itself, for a load balancer to try the next replica.
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        auto on_a = a.api().get("/v1/api/iserver/accounts", bearer(tokens[i]));
        auto on_b = b.api().get("/v1/api/iserver/accounts", bearer(tokens[i]));
        ASSERT_TRUE(on_a && on_b);
        EXPECT_EQ((on_a->status == 200) + (on_b->status == 200), 1) << on_a->body << on_b->body;
        const http_result& other = on_a->status == 200 ? *on_b : *on_a;
        EXPECT_EQ(other.status, 503u) << other.body;
        EXPECT_EQ(other.header("X-Sessiond-Replica"), on_a->status == 200 ? "b" : "a");
        EXPECT_EQ(other.header("Retry-After"), "1");
        EXPECT_NE(other.body.find("does not hold this user's IBKR session"), std::string::npos) << other.body;
        const http_result& served = on_a->status == 200 ? *on_a : *on_b;
        EXPECT_NE(served.body.find(users_[i].account), std::string::npos) << served.body;
    }

    kill(a);
    // a's leases expire (6 s after its last renewal) and b claims them: all four connected on b.
    EXPECT_TRUE(b.wait_for_log("session connected", 4, std::chrono::seconds(40))) << b.output();
    EXPECT_EQ(overlaps(), 0);
}

TEST_F(replicas, a_stalled_replica_makes_no_call_for_the_users_taken_over_while_it_was_stopped) {
    auto [a, b, tokens] = balanced_pair();
    ASSERT_FALSE(HasFailure());

    a.send_signal(SIGSTOP);
    // Longer than the lease: b takes a's two users over and connects them.
    EXPECT_TRUE(b.wait_for_log("session connected", 4, std::chrono::seconds(40))) << b.output();
    a.send_signal(SIGCONT);
    // Its own clock tells a that the leases lapsed: both sessions dropped without a logout.
    EXPECT_TRUE(a.wait_for_log("lease of user", 2)) << a.output();
    EXPECT_TRUE(a.wait_for_log("logout skipped: this daemon's lease on the user is no longer usable", 2)) << a.output();
    // A renewal round after the drop: everything a did after SIGCONT is in the simulator's record.
    const std::size_t rounds = a.count_in_log("replica a: renewed");
    EXPECT_TRUE(a.wait_for_log("replica a: renewed", rounds + 1)) << a.output();
    EXPECT_EQ(overlaps(), 0) << json::serialize(sim().overlaps());
}

TEST_F(replicas, a_graceful_stop_logs_out_and_releases_so_the_other_replica_takes_over_at_once) {
    auto [a, b, tokens] = balanced_pair();
    ASSERT_FALSE(HasFailure());

    EXPECT_EQ(a.stop(), 0) << a.output();
    EXPECT_TRUE(a.wait_for_log("every lease released")) << a.output();
    // Told when a's release committed (NOTIFY), b claims at once rather than at its next round.
    EXPECT_TRUE(b.wait_for_log("replica b: replica a gave leases back; claiming now")) << b.output();
    EXPECT_TRUE(b.wait_for_log("session connected", 4, std::chrono::seconds(20))) << b.output();
    EXPECT_EQ(overlaps(), 0);
}

// The database lost (no connection can be made, the open ones ended): every replica self-fences, its
// sessions lapse without a logout, none competes; once the database is back, the users are claimed
// anew and connected, each by one replica.
TEST_F(replicas, without_the_database_every_replica_self_fences_and_the_users_are_claimed_again_after) {
    auto [a, b, tokens] = balanced_pair();
    ASSERT_FALSE(HasFailure());

    postgres_cluster& pg = postgres_cluster::shared();
    const std::string name = database_.substr(database_.find("dbname=") + 7);
    pg.execute(pg.conninfo("postgres"), "ALTER DATABASE " + name + " ALLOW_CONNECTIONS false");
    pg.execute(pg.conninfo("postgres"),
               "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE datname = '" + name + "'");
    EXPECT_TRUE(a.wait_for_log("not renewed in time", 2, std::chrono::seconds(30))) << a.output();
    EXPECT_TRUE(b.wait_for_log("not renewed in time", 2, std::chrono::seconds(30))) << b.output();
    EXPECT_TRUE(a.wait_for_log("logout skipped: this daemon's lease", 2)) << a.output();

    pg.execute(pg.conninfo("postgres"), "ALTER DATABASE " + name + " ALLOW_CONNECTIONS true");
    // Two each again (the fair share of four users between two live replicas).
    EXPECT_TRUE(a.wait_for_log("session connected", 6, std::chrono::seconds(60))) << a.output();
    EXPECT_TRUE(b.wait_for_log("session connected", 4, std::chrono::seconds(60))) << b.output();
    EXPECT_EQ(overlaps(), 0) << json::serialize(sim().overlaps());
}

// What one replica changes, the others hear at once (NOTIFY when the change commits): a token
// replaced through a works on b, and the old one no longer does, without waiting for anything else.
TEST_F(replicas, a_token_replaced_through_one_replica_is_the_one_the_other_accepts_at_once) {
    auto [a, b, tokens] = balanced_pair();
    ASSERT_FALSE(HasFailure());
    auto replaced = a.api().request(boost::beast::http::verb::post, "/api/users/alice/token", {}, bearer(a.api_token()));
    ASSERT_TRUE(replaced && replaced->status == 200) << (replaced ? replaced->body : "");
    const std::string fresh(replaced->json().as_object().at("token").as_string());
    ASSERT_TRUE(b.wait_for_log("user alice changed on replica a")) << b.output();
    ASSERT_TRUE(b.wait_for_log("key.decrypt by daemon from local on alice", 2)) << "read again: " << b.output();
    auto with_fresh = b.api().get("/api/users/alice/ibkr/status", bearer(fresh));
    ASSERT_TRUE(with_fresh.has_value());
    EXPECT_EQ(with_fresh->status, 200u) << with_fresh->body;
    auto with_old = b.api().get("/api/users/alice/ibkr/status", bearer(tokens[0]));
    ASSERT_TRUE(with_old.has_value());
    EXPECT_EQ(with_old->status, 401u) << with_old->body;
    EXPECT_EQ(a.count_in_log("changed on replica"), 0u) << "a's own change is not read again by a";
}

// A replica that reaches the database but not IBKR: its users' sessions fail to connect again and
// again, so it gives them back one a round and stops counting itself alive; the replica that can
// reach IBKR takes them all.
TEST_F(replicas, a_replica_cut_off_from_ibkr_but_not_the_database_gives_its_users_to_one_that_is_not) {
    daemon_process& a = start_replica("a");
    add_every_user(a);
    ASSERT_TRUE(a.wait_for_log("session connected", 4, std::chrono::seconds(40))) << a.output();
    daemon_options o = multi_user_options();
    o.environment["SESSIOND_REPLICA_ID"] = "b";
    o.environment["SESSIOND_LEASE_TTL"] = "6";
    o.environment["SESSIOND_STATE_DIR"] = (state_dir_ / "b").string();
    o.environment["IBKR_BASE_URL"] = "https://127.0.0.1:1";  // nothing listens: connection refused
    daemon_process& b = start_daemon(std::move(o));
    // (Two users, claimed in one round or, told of each hand-back at once, in two.)
    ASSERT_TRUE(b.wait_for_log("replica b: claimed", 1, std::chrono::seconds(30))) << b.output();
    EXPECT_TRUE(b.wait_for_log("IBKR cannot be reached from here", 1, std::chrono::seconds(40))) << b.output();
    // a takes both back once b no longer counts itself alive: all four connected on a again.
    EXPECT_TRUE(a.wait_for_log("session connected", 6, std::chrono::seconds(60))) << a.output();
    EXPECT_EQ(b.count_in_log("session connected"), 0u);
    EXPECT_EQ(overlaps(), 0);
}

// Every replica's database connection ended by the server (pg_terminate_backend): each makes it
// again at its next round, well within the lease; no user changes hands, nobody logs in again.
TEST_F(replicas, connections_ended_by_the_server_are_made_again_and_no_user_changes_hands) {
    auto [a, b, tokens] = balanced_pair();
    ASSERT_FALSE(HasFailure());
    const auto logins = sim().state().at("tokens_issued").as_int64();
    const std::size_t a_renewals = a.count_in_log("replica a: renewed 2 lease(s)");
    const std::size_t b_renewals = b.count_in_log("replica b: renewed 2 lease(s)");
    postgres_cluster& pg = postgres_cluster::shared();
    const std::string name = database_.substr(database_.find("dbname=") + 7);
    pg.execute(pg.conninfo("postgres"),
               "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE datname = '" + name + "'");
    // Three renewals each after it: the connections were made again (the first round may fail).
    EXPECT_TRUE(a.wait_for_log("replica a: renewed 2 lease(s)", a_renewals + 3)) << a.output();
    EXPECT_TRUE(b.wait_for_log("replica b: renewed 2 lease(s)", b_renewals + 3)) << b.output();
    EXPECT_EQ(a.count_in_log("lease of user"), 0u) << a.output();
    EXPECT_EQ(b.count_in_log("lease of user"), 0u) << b.output();
    EXPECT_EQ(sim().state().at("tokens_issued").as_int64(), logins) << "nobody logged in again";
    EXPECT_EQ(overlaps(), 0);
}

// A rolling restart: each replica stopped (its users handed over) and started again in turn; every
// user connected at the end, never on two replicas at once.
TEST_F(replicas, a_rolling_restart_of_every_replica_keeps_each_user_on_one_replica_at_a_time) {
    auto [a, b, tokens] = balanced_pair();
    ASSERT_FALSE(HasFailure());
    EXPECT_EQ(a.stop(), 0);
    ASSERT_TRUE(b.wait_for_log("session connected", 4, std::chrono::seconds(30))) << b.output();
    daemon_process& a2 = start_replica("a");
    ASSERT_TRUE(a2.wait_for_log("session connected", 2, std::chrono::seconds(30))) << a2.output();
    EXPECT_EQ(b.stop(), 0);
    ASSERT_TRUE(a2.wait_for_log("session connected", 4, std::chrono::seconds(30))) << a2.output();
    daemon_process& b2 = start_replica("b");
    ASSERT_TRUE(b2.wait_for_log("session connected", 2, std::chrono::seconds(30))) << b2.output();
    EXPECT_EQ(overlaps(), 0) << json::serialize(sim().overlaps());
}

// One replica cut off from the database (its role may no longer log in, its connections ended) but
// not from IBKR: it fences itself and drops its users without a logout; the other takes them over
// once their leases expired, and neither acts for a user the other holds. Back, it takes its share.
TEST_F(replicas, a_replica_cut_off_from_the_database_but_not_from_ibkr_gives_way_without_competing) {
    postgres_cluster& pg = postgres_cluster::shared();
    const std::string name = database_.substr(database_.find("dbname=") + 7);
    pg.execute(pg.conninfo("postgres"), "CREATE ROLE replica_b SUPERUSER LOGIN");
    std::string as_b = database_;
    as_b.replace(as_b.find("user=") + 5, as_b.find(' ', as_b.find("user=")) - as_b.find("user=") - 5, "replica_b");
    daemon_process& a = start_replica("a");
    add_every_user(a);
    ASSERT_TRUE(a.wait_for_log("session connected", 4, std::chrono::seconds(40))) << a.output();
    daemon_process& b = start_replica("b", as_b);
    ASSERT_TRUE(b.wait_for_log("session connected", 2, std::chrono::seconds(40))) << b.output();

    pg.execute(pg.conninfo("postgres"), "ALTER ROLE replica_b NOLOGIN");
    pg.execute(pg.conninfo("postgres"), "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE "
                                        "usename = 'replica_b' AND datname = '" + name + "'");
    EXPECT_TRUE(b.wait_for_log("not renewed in time", 2, std::chrono::seconds(30))) << b.output();
    EXPECT_TRUE(a.wait_for_log("session connected", 6, std::chrono::seconds(40))) << a.output();
    EXPECT_EQ(overlaps(), 0) << json::serialize(sim().overlaps());

    pg.execute(pg.conninfo("postgres"), "ALTER ROLE replica_b LOGIN");
    EXPECT_TRUE(b.wait_for_log("session connected", 4, std::chrono::seconds(40))) << b.output();
    EXPECT_EQ(overlaps(), 0) << json::serialize(sim().overlaps());
}

// PostgreSQL itself stopped (fast shutdown, as `systemctl stop postgresql` does) and started again:
// every replica's connection ends, each self-fences and its sessions lapse without a logout; once
// the server is back, the users are claimed again and connected, each by one replica.
TEST_F(replicas, postgresql_stopped_and_started_again_every_replica_self_fences_then_the_users_are_claimed_again) {
    auto [a, b, tokens] = balanced_pair();
    ASSERT_FALSE(HasFailure());
    postgres_cluster& pg = postgres_cluster::shared();
    pg.stop();
    EXPECT_TRUE(a.wait_for_log("not renewed in time", 2, std::chrono::seconds(30))) << a.output();
    EXPECT_TRUE(b.wait_for_log("not renewed in time", 2, std::chrono::seconds(30))) << b.output();
    EXPECT_TRUE(a.wait_for_log("logout skipped: this daemon's lease", 2)) << a.output();
    EXPECT_TRUE(b.wait_for_log("logout skipped: this daemon's lease", 2)) << b.output();
    pg.start();
    EXPECT_TRUE(a.wait_for_log("session connected", 6, std::chrono::seconds(60))) << a.output();
    EXPECT_TRUE(b.wait_for_log("session connected", 4, std::chrono::seconds(60))) << b.output();
    EXPECT_EQ(overlaps(), 0) << json::serialize(sim().overlaps());
}

// A network partition between one replica and the database (a proxy that stops forwarding and
// closes nothing, so no error comes: the answers just do not): the replica's own clock fences it,
// its sessions lapse without a logout, and the statement it waits on fails once overdue instead of
// holding its database thread until the partition ends. The other replica takes the users over.
// When the partition heals, the replica connects again and takes its share.
TEST_F(replicas, a_replica_partitioned_from_the_database_fences_itself_by_its_clock_and_takes_its_share_after) {
    postgres_cluster& pg = postgres_cluster::shared();
    pausable_proxy proxy(pg.socket_path());
    const std::string via_proxy =
        "host=127.0.0.1 port=" + std::to_string(proxy.port()) + database_.substr(database_.find(" user="));
    daemon_process& a = start_replica("a");
    add_every_user(a);
    ASSERT_TRUE(a.wait_for_log("session connected", 4, std::chrono::seconds(40))) << a.output();
    daemon_process& b = start_replica("b", via_proxy);
    ASSERT_TRUE(b.wait_for_log("session connected", 2, std::chrono::seconds(40))) << b.output();

    proxy.pause();
    EXPECT_TRUE(b.wait_for_log("not renewed in time", 2, std::chrono::seconds(30))) << b.output();
    // (Its sessions' last pacing writes wait for the database, up to the answer's 15 s.)
    EXPECT_TRUE(b.wait_for_log("logout skipped: this daemon's lease", 2, std::chrono::seconds(40))) << b.output();
    EXPECT_TRUE(a.wait_for_log("session connected", 6, std::chrono::seconds(40))) << a.output();
    EXPECT_TRUE(b.wait_for_log("no answer within 15 s", 1, std::chrono::seconds(40))) << b.output();
    EXPECT_EQ(overlaps(), 0) << json::serialize(sim().overlaps());

    proxy.resume();
    EXPECT_TRUE(b.wait_for_log("session connected", 4, std::chrono::seconds(60))) << b.output();
    EXPECT_EQ(overlaps(), 0) << json::serialize(sim().overlaps());
}

// The master key rotated as the README says while two replicas run: version 2 added beside 1 on
// both, both reloaded, `keys rewrap` run beside them. No session restarts; a replica taking users
// over afterwards opens their records sealed under version 2.
TEST_F(replicas, the_master_key_rotated_while_replicas_run_seals_under_the_new_version_and_take_overs_open_it) {
    const std::filesystem::path keys = dir_.path() / "master-keys";
    std::filesystem::create_directories(keys);
    std::filesystem::copy_file(master_key_, keys / "1");
    master_key_ = keys;
    auto [a, b, tokens] = balanced_pair();
    ASSERT_FALSE(HasFailure());
    const auto logins = sim().state().at("tokens_issued").as_int64();

    unsigned char key[32];
    ASSERT_EQ(RAND_bytes(key, sizeof key), 1);
    dir_.write("master-keys/2", std::string_view(reinterpret_cast<const char*>(key), sizeof key));
    std::filesystem::permissions(keys / "2", std::filesystem::perms::owner_read);
    for (daemon_process* d : {&a, &b}) {
        d->send_signal(SIGHUP);
        EXPECT_TRUE(d->wait_for_log("master key versions loaded: 1, 2 (new records use 2)")) << d->output();
    }
    environment_overrides env{{"SESSIOND_DATABASE", database_},
                              {"SESSIOND_MASTER_KEY_FILE", keys.string()},
                              {"HOME", dir_.path().string()}};
    const command_result rewrap = run_sessiond(env, {"keys", "rewrap"});
    EXPECT_EQ(rewrap.exit_code, 0) << rewrap.out << rewrap.err;
    EXPECT_EQ(rewrap.out, "keys rewrap: 4 rewrapped to master key version 2, 0 skipped (changed meanwhile), 0 failed\n");
    const command_result status = run_sessiond(env, {"keys", "status"});
    EXPECT_NE(status.out.find("version 1: loaded, seals 0 credentials: can be retired"), std::string::npos) << status.out;
    EXPECT_EQ(sim().state().at("tokens_issued").as_int64(), logins) << "no session restarted";

    kill(a);
    EXPECT_TRUE(b.wait_for_log("session connected", 4, std::chrono::seconds(40))) << b.output();
    EXPECT_EQ(overlaps(), 0) << json::serialize(sim().overlaps());
}

// A daemon without SESSIOND_REPLICA_ID would log every user in beside the replicas: refused.
TEST_F(replicas, a_daemon_that_would_run_alone_is_refused_while_replicas_share_the_database) {
    daemon_process& a = start_replica("a");
    (void)a;
    daemon_options alone = multi_user_options();
    alone.environment["SESSIOND_STATE_DIR"] = (state_dir_ / "alone").string();
    environment_overrides env = daemon_environment(sim(), dir_.write("key.pem", shared_rsa_key().pkcs8_pem));
    env["HOME"] = dir_.path().string();
    env["SESSIOND_API_TOKEN"] = canary_api_token();
    for (auto& [name, value] : alone.environment) env[name] = value;
    env["SESSIOND_LISTEN"] = "127.0.0.1:0";
    const command_result run = run_sessiond(env, {"run"});
    EXPECT_EQ(run.exit_code, 78) << run.err;
    EXPECT_NE(run.err.find("set SESSIOND_REPLICA_ID on each"), std::string::npos) << run.err;
}

}  // namespace
}  // namespace sessiond::testing
