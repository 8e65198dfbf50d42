// The status the daemon reports, in each state, built from real snapshots of the session machine.

#include "sessiond/api/status_view.hpp"

#include "sessiond/core/time_format.hpp"
#include "sessiond/log/redact.hpp"
#include "support/test_keys.hpp"
#include "unit/session/machine_harness.hpp"

#include <boost/json/serialize.hpp>

namespace sessiond {
namespace {

using namespace sessiond::testing;

config_report configured() {
    config_report r;
    r.values.profile.account_id = "DU1234567";
    r.values.profile.environment = ibkr_environment::paper;
    r.values.profile.private_key = rsa_private_key::from_pem(shared_rsa_key().pkcs8_pem).value();
    r.values.service.api_token = secret(std::string("0123456789abcdef-api-token"));
    return r;
}

class status_test : public machine_test {
protected:
    status_input input(const session_snapshot* s) const {
        return single_user_status(config, s, stopping, now - std::chrono::seconds(90), now);
    }
    boost::json::object json_of(const session_snapshot* s) const { return status_json(input(s)); }

    config_report config = configured();
    bool stopping = false;
};

TEST_F(status_test, the_admins_multi_user_status_is_a_summary_naming_who_is_not_connected) {
    config.values.multi_user = true;
    status_input empty{config, {}, false, now - std::chrono::seconds(90), now, nullptr, true};
    auto j = status_json(empty);
    EXPECT_EQ(j.at("status"), "configured_not_connected");
    EXPECT_EQ(j.at("message"), "multi-user mode: no user has IBKR credentials yet");
    EXPECT_EQ(j.at("multi_user").at("users"), 0);
    EXPECT_TRUE(is_ready(readiness_checks(empty)));

    connect();
    feed(tickled());
    std::vector<settings> users(2, config.values);
    users[1].profile.account_id = "DU0000002";
    status_input two{config, {{&users[0], &snap(), "alice"}, {&users[1], nullptr, "bob"}}, false,
                     now - std::chrono::seconds(90), now, nullptr, true};
    j = status_json(two);
    EXPECT_EQ(j.at("status"), "configured_not_connected");
    EXPECT_TRUE(j.at("message").as_string().starts_with("1 of 2 users connected; bob: ")) << j.at("message");
    const auto& summary = j.at("multi_user").as_object();
    EXPECT_EQ(summary.at("by_state").at("connected"), 1);
    EXPECT_EQ(summary.at("by_state").at("connecting"), 1);
    ASSERT_EQ(summary.at("not_connected").as_array().size(), 1u);
    EXPECT_EQ(summary.at("not_connected").at(0).at("user"), "bob");
    EXPECT_EQ(summary.at("database"), "reachable");
    EXPECT_FALSE(j.contains("users")) << "no user's fields in the admin's view";
    EXPECT_FALSE(j.contains("account_id"));
    // Ready: the daemon serves and the database answers, whatever each user's session does.
    EXPECT_TRUE(is_ready(readiness_checks(two)));
    two.store_reachable = false;
    EXPECT_FALSE(is_ready(readiness_checks(two)));
}

TEST_F(status_test, not_configured_names_every_problem_and_has_no_session_fields) {
    config.problems = {{"IBKR_CLIENT_ID", "missing", false}, {"IBKR_ENV", "\"demo\" must be paper or live", false}};
    const auto j = json_of(nullptr);
    EXPECT_EQ(j.at("status"), "not_configured");
    EXPECT_EQ(j.at("state"), "not_configured");
    EXPECT_EQ(j.at("message"), "not configured: IBKR_CLIENT_ID missing (+1 more)");
    ASSERT_EQ(j.at("problems").as_array().size(), 2u);
    EXPECT_EQ(j.at("problems").as_array()[1].at("variable"), "IBKR_ENV");
    EXPECT_TRUE(j.at("step").is_null());
    EXPECT_TRUE(j.at("last_error").is_null());
    EXPECT_FALSE(j.at("brokerage").at("authenticated").as_bool());
    EXPECT_EQ(j.at("daemon").at("uptime_seconds").as_double(), 90.0);
    EXPECT_FALSE(is_ready(readiness_checks(input(nullptr))));
}

TEST_F(status_test, connected_reports_flags_server_sso_time_and_last_tickle) {
    connect();
    const auto j = json_of(&snap());
    EXPECT_EQ(j.at("status"), "connected");
    EXPECT_EQ(j.at("state"), "connected");
    EXPECT_EQ(j.at("environment"), "paper");
    EXPECT_EQ(j.at("account_id"), "DU1234567");
    EXPECT_EQ(j.at("login_type"), "paper");
    EXPECT_TRUE(j.at("brokerage").at("authenticated").as_bool());
    EXPECT_TRUE(j.at("brokerage").at("connected").as_bool());
    EXPECT_FALSE(j.at("brokerage").at("competing").as_bool());
    EXPECT_EQ(j.at("server").at("name"), "JifN19053");
    EXPECT_EQ(j.at("sso_expires_in_seconds").as_double(), 500.0);
    EXPECT_FALSE(j.at("last_tickle_at").is_null());
    EXPECT_TRUE(j.at("next_retry_at").is_null()) << "nothing to retry while connected";
    EXPECT_EQ(j.at("message"), "connected as DU1234567 (paper); SSO 8m20s left");
    EXPECT_TRUE(is_ready(readiness_checks(input(&snap()))));
}

// A new login within IBKR's validate minute: validate deferred, init and accounts at once.
class deferred_validate_status : public status_test {
protected:
    void lose_the_sso_session_and_log_in_again(step_outcome accounts) {
        machine_settings s = test_settings();
        s.tickle_interval = 1s;  // the 401 comes a second after connecting, well within the minute
        machine.reconfigure(s);
        connect();
        feed(failed(step::tickle, failure::unauthorized, 401));
        log_in_again_within_validates_minute(std::move(accounts));
    }
};

TEST_F(deferred_validate_status, says_what_confirmed_paper_or_live_and_when_validate_comes) {
    const auto before = json_of(&snap());
    EXPECT_TRUE(before.at("environment_confirmed_by").is_null());
    lose_the_sso_session_and_log_in_again(listed());
    const auto j = json_of(&snap());
    EXPECT_EQ(j.at("status"), "connected");
    EXPECT_EQ(j.at("environment_confirmed_by"), "accounts");
    ASSERT_TRUE(snap().validate_deferred_until);
    EXPECT_EQ(j.at("validate_deferred_until").as_string(), iso8601_utc(*snap().validate_deferred_until));
    EXPECT_TRUE(is_ready(readiness_checks(input(&snap()))));
}

TEST_F(deferred_validate_status, without_is_paper_it_is_neither_connected_nor_ready_and_says_why) {
    lose_the_sso_session_and_log_in_again(listed_without_is_paper());
    const auto j = json_of(&snap());
    EXPECT_EQ(j.at("status"), "configured_not_connected");
    EXPECT_TRUE(j.at("environment_confirmed_by").is_null());
    EXPECT_TRUE(j.at("validate_deferred_until").is_string());
    EXPECT_NE(j.at("message").as_string().find("paper/live not confirmed yet"), boost::json::string::npos)
        << j.at("message");
    EXPECT_FALSE(is_ready(readiness_checks(input(&snap()))));
}

TEST_F(status_test, reconnecting_reports_the_error_the_attempt_and_the_next_retry) {
    connect();
    feed(failed(step::tickle, failure::server_error, 503));
    feed(failed(step::tickle, failure::server_error, 503));
    const auto j = json_of(&snap());
    EXPECT_EQ(j.at("status"), "configured_not_connected");
    EXPECT_EQ(j.at("state"), "reconnecting");
    EXPECT_EQ(j.at("consecutive_failures"), 2);
    EXPECT_EQ(j.at("last_error").at("step"), "tickle");
    EXPECT_EQ(j.at("last_error").at("http_status"), 503);
    EXPECT_EQ(j.at("last_error").at("kind"), "server_error");
    EXPECT_EQ(j.at("next_retry_in_seconds").as_double(), 4.0);
    EXPECT_EQ(j.at("message"), "reconnecting in 4.0 s (attempt 3): tickle: HTTP 503 (server_error) injected");
    const auto checks = readiness_checks(input(&snap()));
    EXPECT_FALSE(is_ready(checks));
    EXPECT_FALSE(checks[2].ok);
}

TEST_F(status_test, competing_is_not_ready_and_says_so) {
    connect();
    feed(tickled(status(false, true, true)));
    const auto j = json_of(&snap());
    EXPECT_EQ(j.at("state"), "competing");
    EXPECT_TRUE(j.at("brokerage").at("competing").as_bool());
    EXPECT_EQ(j.at("message"), "competing: another session holds this IBKR username");
    const auto checks = readiness_checks(input(&snap()));
    EXPECT_FALSE(checks[3].ok);
}

TEST_F(status_test, halted_gives_the_reason) {
    run_until(step::validate);
    feed(validated(ibkr_environment::live));
    const auto j = json_of(&snap());
    EXPECT_EQ(j.at("state"), "halted");
    EXPECT_NE(j.at("halt_reason").as_string().find("live login but IBKR_ENV=paper"), boost::json::string::npos);
    EXPECT_TRUE(j.at("next_retry_at").is_null()) << "a halted session retries nothing";
}

TEST_F(status_test, stopping_is_not_ready) {
    connect();
    stopping = true;
    const auto j = json_of(&snap());
    EXPECT_EQ(j.at("status"), "configured_not_connected");
    EXPECT_TRUE(j.at("daemon").at("stopping").as_bool());
    EXPECT_EQ(j.at("message"), "stopping: logging out");
    EXPECT_FALSE(is_ready(readiness_checks(input(&snap()))));
}

TEST_F(status_test, connecting_shows_the_step_in_progress) {
    start();
    machine.on_call_started(now);
    EXPECT_EQ(status_line(input(&snap())), "connecting: oauth");
}

TEST_F(status_test, throttled_says_how_many_logins_and_when_the_next_may_start) {
    auto s = test_settings();
    s.login_min_interval = 10s;
    s.logins_per_hour = 30;
    machine = lifecycle_machine(s, [] { return 0.0; });
    config.values.options.logins_per_hour = 30;
    config.values.options.login_min_interval = seconds_f(10);
    start();
    feed(failed(step::oauth, failure::server_error, 503));
    const auto j = json_of(&snap());
    EXPECT_EQ(j.at("state"), "throttled");
    EXPECT_EQ(j.at("status"), "configured_not_connected");
    EXPECT_FALSE(j.at("throttled_until").is_null());
    EXPECT_EQ(j.at("login_budget").at("logins_last_hour").as_uint64(), 1u);
    EXPECT_EQ(j.at("login_budget").at("per_hour").as_int64(), 30);
    const std::string line = status_line(input(&snap()));
    EXPECT_TRUE(line.starts_with("throttled: 1 login(s) in the last hour (at most 30, 10 s apart); next login in ")) << line;
    EXPECT_NE(line.find("oauth: HTTP 503"), std::string::npos) << line;
}

TEST_F(status_test, the_login_budget_says_where_it_persists_or_why_it_lives_in_memory) {
    config.values.service.state_dir = "/home/op/.local/state/ibkr-sessiond";
    config.values.service.state_dir_rule = "default: $HOME/.local/state";
    auto budget = json_of(nullptr).at("login_budget").as_object();
    EXPECT_TRUE(budget.at("persisted").as_bool());
    EXPECT_EQ(budget.at("state_directory"), "/home/op/.local/state/ibkr-sessiond");
    EXPECT_EQ(budget.at("state_directory_rule"), "default: $HOME/.local/state");
    EXPECT_TRUE(budget.at("in_memory_because").is_null());

    config.values.service.state_dir.reset();
    config.values.service.state_dir_unavailable = "no usable state directory (HOME: not set)";
    budget = json_of(nullptr).at("login_budget").as_object();
    EXPECT_FALSE(budget.at("persisted").as_bool());
    EXPECT_TRUE(budget.at("state_directory").is_null());
    EXPECT_EQ(budget.at("in_memory_because"), "no usable state directory (HOME: not set)");
}

TEST_F(status_test, rate_limited_says_no_calls_until_when) {
    connect();
    feed(failed(step::tickle, failure::rate_limited, 429, 120s));
    const auto j = json_of(&snap());
    EXPECT_TRUE(j.at("rate_limited").as_bool());
    EXPECT_EQ(j.at("rate_limited_until"), j.at("next_call_at"));
    const std::string line = status_line(input(&snap()));
    EXPECT_TRUE(line.starts_with("rate limited by IBKR (429): no calls until ")) << line;
    EXPECT_NE(line.find("(2m00s)"), std::string::npos) << line;
}

TEST_F(status_test, a_maintenance_window_is_reported_as_such_not_as_an_alarm) {
    auto zone = time_zone::load("America/New_York");
    ASSERT_TRUE(zone);
    auto calendar = std::make_shared<const ibkr_calendar>(ibkr_region::new_york, std::move(*zone));
    auto s = test_settings();
    s.calendar = calendar;
    machine = lifecycle_machine(s, [] { return 0.0; });
    config.values.options.calendar = calendar;
    now = std::chrono::sys_days(std::chrono::December / 1 / 2026) + 5h + 50min;
    connect();
    now += 10min;  // 06:00 UTC, 01:00 EST
    feed(failed(step::tickle, failure::server_error, 503));
    const auto j = json_of(&snap());
    ASSERT_TRUE(j.at("maintenance_window").is_object());
    EXPECT_EQ(j.at("maintenance_window").at("kind"), "daily_reset");
    EXPECT_EQ(j.at("maintenance_window").at("end"), "2026-12-01T06:30:00.000Z");
    EXPECT_TRUE(j.at("maintenance_window").at("expected_failures").as_bool());
    EXPECT_EQ(j.at("consecutive_failures").as_int64(), 0);
    const std::string line = status_line(input(&snap()));
    EXPECT_TRUE(line.starts_with("IBKR's daily reset (01:00 in New York), until 01:30 EST; reconnecting in ")) << line;
}

TEST_F(status_test, outside_any_window_there_is_no_maintenance_field) {
    connect();
    EXPECT_TRUE(json_of(&snap()).at("maintenance_window").is_null());
}

TEST_F(status_test, never_contains_the_key_or_the_api_token) {
    connect();
    const std::string text = boost::json::serialize(json_of(&snap()));
    EXPECT_FALSE(contains_secret_material(text)) << text;
    EXPECT_EQ(text.find("0123456789abcdef-api-token"), std::string::npos);
    EXPECT_EQ(text.find("PRIVATE KEY"), std::string::npos);
}

TEST_F(status_test, status_line_is_one_bounded_line) {
    config.problems = {{"IBKR_CLIENT_ID", std::string(500, 'x') + "\nsecond line", false}};
    const std::string line = status_line(input(nullptr));
    EXPECT_LE(line.size(), 200u);
    EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST_F(status_test, the_guides_fields_sit_beside_the_daemons_own) {
    config.values.profile.client_id = "abcdef-client";
    connect();
    auto j = json_of(&snap());
    EXPECT_EQ(j.at("configured"), true);
    EXPECT_EQ(j.at("connected"), true);
    EXPECT_EQ(j.at("environment"), "paper");
    EXPECT_EQ(j.at("accountId"), "DU1234567");
    EXPECT_EQ(j.at("clientId"), "abc***") << "the first characters, never the whole id";
    EXPECT_EQ(j.at("multiUserMode"), false);
    EXPECT_EQ(j.at("mode"), "production");
    for (const char* step : {"oauth", "sso", "validate", "init"}) {
        EXPECT_EQ(j.at("diagnostics").at(step).at("success"), true) << step;
        EXPECT_EQ(j.at("diagnostics").at(step).at("message"), "ok") << step;
    }
    config.values.profile.client_id = "ab";
    EXPECT_EQ(json_of(&snap()).at("clientId"), "a***");
}

TEST_F(status_test, the_guides_init_is_init_and_accounts_and_a_failure_shows_ibkrs_text_only_in_development) {
    run_until(step::accounts);
    feed(failed(step::accounts, failure::server_error, 503));
    auto j = json_of(&snap());
    EXPECT_EQ(j.at("connected"), false);
    const auto& init = j.at("diagnostics").at("init");
    EXPECT_EQ(init.at("status"), 503) << "the accounts call that failed after init is init's";
    EXPECT_EQ(init.at("success"), false);
    EXPECT_EQ(init.at("message"), boost::json::value(public_failure(step::accounts, failure::server_error, 503)))
        << "production: the same one line as the test's, no IBKR text";
    EXPECT_EQ(std::string_view(init.at("message").as_string()).find("injected"), std::string_view::npos);
    EXPECT_EQ(j.at("diagnostics").at("oauth").at("success"), true);
    config.values.service.development = true;
    j = json_of(&snap());
    EXPECT_EQ(j.at("mode"), "development");
    EXPECT_EQ(j.at("diagnostics").at("init").at("message"), "injected");
}

TEST_F(status_test, before_any_call_each_step_says_not_run_with_status_0) {
    config.problems = {{"IBKR_CLIENT_ID", "missing", false}};
    const auto j = json_of(nullptr);
    EXPECT_EQ(j.at("configured"), false);
    EXPECT_EQ(j.at("connected"), false);
    EXPECT_TRUE(j.at("clientId").is_null());
    EXPECT_EQ(j.at("diagnostics").at("oauth").at("status"), 0);
    EXPECT_EQ(j.at("diagnostics").at("oauth").at("success"), false);
}

}  // namespace
}  // namespace sessiond
