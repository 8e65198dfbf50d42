// The session registry in-process, against real simulators over real TLS: two IBKR users in one
// process (multi-user mode's configuration comes later, the registry is what it will drive), and
// reconcile() replacing one user's login while keeping the other's.

#include "sessiond/api/metrics_view.hpp"
#include "sessiond/api/status_view.hpp"
#include "sessiond/net/tls.hpp"
#include "sessiond/session/session_registry.hpp"

#include "support/daemon_process.hpp"
#include "support/prometheus_parser.hpp"
#include "support/sim_process.hpp"
#include "support/temp_dir.hpp"
#include "support/test_keys.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>

namespace sessiond::testing {
namespace {

using namespace std::chrono_literals;

class session_registry_test : public ::testing::Test {
protected:
    static sim_options sim_for(std::string credential, std::string account) {
        sim_options o;
        o.credential = std::move(credential);
        o.accounts = {std::move(account)};
        o.tickle_min_interval = 1;
        o.validate_min_interval = 1;
        return o;
    }

    // The settings a daemon pointed at `sim` would load, with the state directory of this test.
    desired_session desired_for(const sim_process& sim, std::string_view account = {}) {
        const auto key_file = dir_.path() / "key.pem";
        if (!std::filesystem::exists(key_file)) std::ofstream(key_file) << shared_rsa_key().pkcs8_pem;
        config_sources sources;
        for (const auto& [name, value] : daemon_environment(sim, key_file))
            if (value) sources.environment[name] = *value;
        sources.environment["SESSIOND_STATE_DIR"] = dir_.path().string();
        if (!account.empty()) sources.environment["IBKR_ACCOUNT_ID"] = std::string(account);
        config_report report = load_settings(sources);
        EXPECT_TRUE(report.ok()) << format_config_report(report);
        auto tls = make_client_tls_context(report.values.options.ca_file);
        EXPECT_TRUE(tls);
        return {std::make_shared<const settings>(report.values), tls ? *tls : nullptr, {}};
    }

    // Runs the loop until `done` holds, or the timeout. It is asked after every handler, not only
    // after a change the registry reports: a let_go_one() callback is no change of the registry's
    // (waiting for one made a test sit out its 30 s timeout twice).
    bool run_until(const std::function<bool()>& done, std::chrono::seconds timeout = 30s) {
        bool timed_out = false;
        boost::asio::steady_timer deadline(io_, timeout);
        deadline.async_wait([&timed_out](const boost::system::error_code& ec) {
            if (!ec) timed_out = true;
        });
        io_.restart();
        while (!done() && !timed_out && io_.run_one() > 0) {
        }
        return done();
    }

    [[nodiscard]] bool all_connected(std::size_t n) const {
        const auto users = registry_.users();
        if (users.size() != n) return false;
        for (const auto& u : users)
            if (u.running == nullptr || u.running->snapshot().state != lifecycle::connected) return false;
        return true;
    }

    status_input status() const {
        status_input in{config_, {}, false, wall_clock::now(), wall_clock::now(), nullptr};
        for (const auto& u : registry_.users())
            in.users.push_back({u.config, u.running != nullptr ? &u.running->snapshot() : nullptr});
        return in;
    }

    void stop_all() {
        bool stopped = false;
        registry_.stop([&] {
            stopped = true;
            io_.stop();
        });
        boost::asio::steady_timer deadline(io_, 15s);
        deadline.async_wait([this](const boost::system::error_code& ec) {
            if (!ec) io_.stop();
        });
        io_.restart();
        if (!stopped) io_.run();
        EXPECT_TRUE(stopped) << "every session logged out";
    }

    temp_dir dir_;
    boost::asio::io_context io_;
    config_report config_;
    session_registry registry_{io_.get_executor(), logger(make_stderr_logger("registry-test", spdlog::level::info), "")};
};

TEST_F(session_registry_test, two_users_in_one_process_have_one_status_entry_and_one_series_each) {
    sim_process alice(sim_for("alice", "DU1111111"));
    sim_process bob(sim_for("bob", "DU2222222"));
    std::vector<desired_session> desired;
    desired.push_back(desired_for(alice));
    desired.push_back(desired_for(bob));
    registry_.reconcile(std::move(desired));
    ASSERT_TRUE(run_until([&] { return all_connected(2); })) << "both users connect";

    const status_input st = status();
    const auto j = status_json(st);
    EXPECT_EQ(j.at("status"), "connected");
    const auto& users = j.at("users").as_array();
    ASSERT_EQ(users.size(), 2u);
    std::set<std::string> accounts;
    for (const auto& u : users) {
        EXPECT_EQ(u.at("status"), "connected") << boost::json::serialize(u);
        accounts.insert(std::string(u.at("account_id").as_string()));
    }
    EXPECT_EQ(accounts, (std::set<std::string>{"DU1111111", "DU2222222"}));
    EXPECT_EQ(status_line(st), "2 of 2 users connected");
    EXPECT_TRUE(is_ready(readiness_checks(st)));

    metrics_input in{st, {}, nullptr, process_stats{}, 0, nullptr};
    for (const auto& u : registry_.users()) in.running.push_back(u.running);
    const std::string text = render_metrics(in);
    // The strict parser refuses a family written twice, or a sample outside its family.
    const auto parsed = parse_prometheus_text(text);
    ASSERT_TRUE(parsed) << parsed.error().message << "\n" << text;
    EXPECT_EQ(parsed->value_of("ibkr_session_up", {{"account", "DU1111111"}}), 1.0);
    EXPECT_EQ(parsed->value_of("ibkr_session_up", {{"account", "DU2222222"}}), 1.0);
    EXPECT_EQ(parsed->value_of("ibkr_logins_total", {{"account", "DU2222222"}}), 1.0);
    std::size_t type_lines = 0;
    for (std::size_t at = text.find("# TYPE ibkr_session_up "); at != std::string::npos;
         at = text.find("# TYPE ibkr_session_up ", at + 1))
        ++type_lines;
    EXPECT_EQ(type_lines, 1u);

    // One user leaves the configuration: only that user's session logs out.
    const auto bob_tickles = bob.state().at("tickles").as_int64();
    std::vector<desired_session> only_alice;
    only_alice.push_back(desired_for(alice));
    registry_.reconcile(std::move(only_alice));
    ASSERT_TRUE(run_until([&] { return registry_.size() == 1; })) << "bob's session ends";
    EXPECT_TRUE(bob.await_calls("/v1/api/logout", 1, 5s));
    EXPECT_EQ(alice.state().at("logouts").as_int64(), 0);
    EXPECT_EQ(alice.state().at("tokens_issued").as_int64(), 1) << "alice keeps her session";
    EXPECT_GE(bob.state().at("tickles").as_int64(), bob_tickles);
    stop_all();
    EXPECT_TRUE(alice.await_calls("/v1/api/logout", 1, 5s));
}

// Multi-user mode changes one user at a time (reconcile_one, let_go_one): the others' sessions are
// not touched, not even looked at.
TEST_F(session_registry_test, one_user_added_or_let_go_alone_leaves_every_other_session_as_it_is) {
    sim_process alice(sim_for("alice", "DU1111111"));
    sim_process bob(sim_for("bob", "DU2222222"));
    std::vector<desired_session> only_alice;
    only_alice.push_back(desired_for(alice));
    registry_.reconcile(std::move(only_alice));
    ASSERT_TRUE(run_until([&] { return all_connected(1); }));

    registry_.reconcile_one(desired_for(bob));
    ASSERT_TRUE(run_until([&] { return all_connected(2); })) << "bob joins, alice stays";
    // The same settings again (a credential stored anew with the same identity): nothing restarts.
    registry_.reconcile_one(desired_for(bob));
    ASSERT_TRUE(all_connected(2));

    registry_.let_go_one("alice", "the user's session was removed from the configuration");
    ASSERT_TRUE(run_until([&] { return registry_.size() == 1; })) << "alice's session ends";
    EXPECT_TRUE(alice.await_calls("/v1/api/logout", 1, 5s));
    EXPECT_EQ(bob.state().at("logouts").as_int64(), 0);
    EXPECT_EQ(bob.state().at("tokens_issued").as_int64(), 1) << "bob logged in once";
    ASSERT_EQ(registry_.users().size(), 1u);
    EXPECT_EQ(registry_.users().front().config->profile.credential, "bob");
    registry_.let_go_one("nobody", "not there");  // unknown: nothing happens
    EXPECT_EQ(registry_.size(), 1u);
    stop_all();
}

// A replica handing a user back waits for the logout before it releases the lease; one losing a
// lease drops the session with a fence that says no: nothing more reaches IBKR, not even a logout.
TEST_F(session_registry_test, let_go_one_tells_when_the_logout_ended_and_a_fenced_session_does_not_log_out) {
    sim_process alice(sim_for("alice", "DU1111111"));
    sim_process bob(sim_for("bob", "DU2222222"));
    auto bob_may_call = std::make_shared<bool>(true);
    registry_.fence_sessions([bob_may_call](const desired_session& d) -> ibkr_client::call_permit {
        if (d.config->profile.credential != "bob") return {};
        return [bob_may_call] { return *bob_may_call; };
    });
    std::vector<desired_session> both;
    both.push_back(desired_for(alice));
    both.push_back(desired_for(bob));
    registry_.reconcile(std::move(both));
    ASSERT_TRUE(run_until([&] { return all_connected(2); }));

    std::uint64_t logouts_when_ended = 99;
    bool ended = false;
    registry_.let_go_one("alice", "handed back to another replica", [&] {
        ended = true;
        logouts_when_ended = static_cast<std::uint64_t>(alice.state().at("logouts").as_int64());
    });
    ASSERT_TRUE(run_until([&] { return ended; }));
    EXPECT_EQ(logouts_when_ended, 1u) << "called once the logout had been answered";

    *bob_may_call = false;  // bob's lease lapsed by this process's own clock
    bool bob_ended = false;
    registry_.let_go_one("bob", "this daemon's lease on the user ended", [&] { bob_ended = true; });
    ASSERT_TRUE(run_until([&] { return bob_ended; }));
    EXPECT_EQ(bob.state().at("logouts").as_int64(), 0) << "no logout: another replica may have logged in";

    bool nobody = false;
    registry_.let_go_one("nobody", "not there", [&] { nobody = true; });
    ASSERT_TRUE(run_until([&] { return nobody; })) << "no session: told at once";
    stop_all();
}

TEST_F(session_registry_test, usernames_logging_in_from_one_address_share_its_penalty_box_and_no_other) {
    sim_process alice(sim_for("alice", "DU1111111"));
    sim_process bob(sim_for("bob", "DU2222222"));
    auto carol_options = sim_for("carol", "DU3333333");
    carol_options.allowed_ip = "127.0.0.2";
    sim_process carol(carol_options);
    std::vector<desired_session> desired;
    desired.push_back(desired_for(alice));
    desired.push_back(desired_for(bob));
    desired.push_back(desired_for(carol));
    EXPECT_EQ(desired.back().config->profile.allowed_ip, "127.0.0.2");
    registry_.reconcile(std::move(desired));
    ASSERT_TRUE(run_until([&] { return registry_.users().size() == 3 && registry_.users()[2].running != nullptr; }));

    std::map<std::string, const username_pacer*> pacers;
    for (const auto& u : registry_.users()) {
        ASSERT_NE(u.running, nullptr);
        pacers[u.config->profile.credential] = u.running->pacer().get();
    }
    ASSERT_NE(pacers["alice"]->penalty_box(), nullptr);
    EXPECT_EQ(pacers["alice"]->penalty_box(), pacers["bob"]->penalty_box()) << "one box per address";
    EXPECT_NE(pacers["alice"]->penalty_box(), pacers["carol"]->penalty_box()) << "another address, another box";
    stop_all();
}

// A username's pacer (its login budget) outlives a reconcile that does not want it while a call
// holds it (a proof in flight while another user's change reconciles) or while it counts a login
// within the hour (a user removed and added again): its next session never starts the budget afresh.
TEST_F(session_registry_test, a_usernames_pacer_outlives_a_reconcile_without_it_while_it_still_counts) {
    sim_process alice(sim_for("alice", "DU1111111"));
    sim_process bob(sim_for("bob", "DU2222222"));
    const desired_session for_bob = desired_for(bob);

    // bob's proof: the pacer is taken and a login counted before bob's session is wanted...
    std::shared_ptr<username_pacer> proof = registry_.pacer_for(*for_bob.config);
    proof->record_login(wall_clock::now());
    // ...when alice's change reconciles without bob.
    std::vector<desired_session> only_alice;
    only_alice.push_back(desired_for(alice));
    registry_.reconcile(std::move(only_alice));
    const username_pacer* held = proof.get();
    proof.reset();  // the proof ends
    EXPECT_EQ(registry_.pacer_for(*for_bob.config).get(), held) << "kept: it counts bob's login";

    std::vector<desired_session> both;
    both.push_back(desired_for(alice));
    both.push_back(for_bob);
    registry_.reconcile(std::move(both));
    ASSERT_TRUE(run_until([&] { return registry_.users().size() == 2 && registry_.users()[1].running != nullptr; }));
    const auto users = registry_.users();
    const auto bobs = std::find_if(users.begin(), users.end(),
                                   [](const auto& u) { return u.config->profile.credential == "bob"; });
    ASSERT_NE(bobs, users.end());
    ASSERT_NE(bobs->running, nullptr);
    EXPECT_EQ(bobs->running->pacer().get(), held);
    EXPECT_GE(bobs->running->pacer()->logins().recent().size(), 1u);
    stop_all();
}

TEST_F(session_registry_test, a_changed_login_starts_only_after_the_old_one_logged_out_whatever_comes_meanwhile) {
    sim_options o = sim_for("simuser", "DU1234567");
    o.accounts = {"DU1234567", "DU7654321", "DU5555555"};
    sim_process sim(o);
    std::vector<desired_session> first;
    first.push_back(desired_for(sim, "DU1234567"));
    registry_.reconcile(std::move(first));
    ASSERT_TRUE(run_until([&] { return all_connected(1); }));

    // A slow logout, and two more changes of login while it is under way.
    sim.fault(boost::json::parse(R"({"path":"/v1/api/logout","action":"delay","delay_ms":1500})"));
    for (const char* account : {"DU7654321", "DU5555555", "DU7654321"}) {
        std::vector<desired_session> next;
        next.push_back(desired_for(sim, account));
        registry_.reconcile(std::move(next));
        const auto users = registry_.users();
        ASSERT_EQ(users.size(), 1u);
        EXPECT_EQ(users.front().config->profile.account_id, account) << "the status names the newest configuration";
        EXPECT_EQ(users.front().running, nullptr) << "no second session while the first logs out";
    }
    ASSERT_TRUE(run_until([&] { return all_connected(1); }));
    EXPECT_EQ(registry_.users().front().config->profile.account_id, "DU7654321");
    EXPECT_EQ(sim.state().at("logouts").as_int64(), 1);
    EXPECT_EQ(sim.state().at("sso_sessions_created").as_int64(), 2) << "one login for the old, one for the newest";
    stop_all();
}

}  // namespace
}  // namespace sessiond::testing
