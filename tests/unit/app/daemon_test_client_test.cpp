#include "sessiond/app/daemon_test_client.hpp"

#include "sessiond/app/cli.hpp"
#include "sessiond/session/connection_test.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

namespace sessiond {
namespace {

using std::chrono::milliseconds;
using result_t = test_step_report::result_t;

connection_test_report sample_report(bool passed) {
    connection_test_report r;
    r.steps.push_back({"oauth", result_t::passed, 200, milliseconds(12), "", "", ""});
    r.steps.push_back({"sso", result_t::passed, 200, milliseconds(30), "", "", ""});
    r.steps.push_back({"validate", result_t::passed, 200, milliseconds(8), "paper login", "", ""});
    if (passed)
        r.steps.push_back({"init", result_t::passed, 200, milliseconds(15), "account DU1234567 listed", "", ""});
    else
        r.steps.push_back({"init", result_t::failed, 500, milliseconds(15), "HTTP 500", "", ""});
    return r;
}

std::string daemon_body(const connection_test_report& r) {
    boost::json::object body = to_json(r);
    body["status"] = r.passed() ? "connected" : "configured_not_connected";
    return boost::json::serialize(body);
}

const lock_holder daemon{4242, "http://127.0.0.1:4257", "1.0.0", "run"};

TEST(report_from_json, reads_back_what_to_json_wrote) {
    for (const bool passed : {true, false}) {
        const auto report = sample_report(passed);
        const auto back = report_from_json(to_json(report));
        ASSERT_TRUE(back) << back.error().message;
        EXPECT_EQ(format_test_report(*back), format_test_report(report));
        EXPECT_EQ(back->passed(), passed);
    }
}

TEST(test_report_json, has_the_guides_shape_and_tells_ibkrs_text_only_in_development) {
    connection_test_report r;
    r.steps.push_back(step_report("oauth", failed_outcome(step::oauth, failure::unauthorized, "invalid_client: no such key", 401)));
    for (const bool development : {false, true}) {
        const auto j = to_json(r, development);
        EXPECT_EQ(j.at("success"), false);
        EXPECT_EQ(j.at("error_code"), "oauth.unauthorized");
        const auto& oauth = j.at("steps").at("oauth");
        EXPECT_EQ(oauth.at("status"), 401);
        EXPECT_EQ(oauth.at("success"), false);
        EXPECT_EQ(j.at("steps").at("sso").at("message"), "not run");
        const std::string all = boost::json::serialize(j);
        EXPECT_EQ(all.find("invalid_client: no such key") != std::string::npos, development) << all;
        EXPECT_EQ(all.find("POST /oauth2/api/v1/token") != std::string::npos, development) << all;
        EXPECT_NE(std::string(j.at("message").as_string()).find("HTTP 401"), std::string::npos) << j.at("message");
        ASSERT_EQ(j.at("step_results").as_array().size(), 1u);
    }
    // The guide's init is init, then accounts: a failed accounts call is init's failure.
    connection_test_report later;
    later.steps.push_back({"init", result_t::passed, 200, milliseconds(15), "", "", ""});
    later.steps.push_back({"accounts", result_t::failed, 503, milliseconds(3), "down", "HTTP 503 (server_error)", "server_error"});
    const auto j = to_json(later, false);
    EXPECT_EQ(j.at("steps").at("init").at("status"), 503);
    EXPECT_EQ(j.at("steps").at("init").at("success"), false);
    EXPECT_EQ(j.at("steps").at("init").at("message"), "HTTP 503 (server_error)");
}

TEST(report_from_json, names_what_is_wrong) {
    auto error_of = [](std::string_view text) {
        const auto r = report_from_json(boost::json::parse(text));
        return r ? std::string("(accepted)") : r.error().message;
    };
    EXPECT_EQ(error_of(R"({"passed":true})"), "no \"step_results\" array");
    EXPECT_EQ(error_of(R"({"step_results":[]})"), "the \"step_results\" array is empty");
    EXPECT_EQ(error_of(R"({"step_results":[{"step":"oauth","outcome":"great"}]})"),
              "step 1: outcome is not passed, failed or skipped");
    EXPECT_EQ(error_of(R"({"step_results":[{"step":"oauth","outcome":"passed","http_status":"x"}]})"),
              "step 1: http_status is not an HTTP status");
    EXPECT_EQ(error_of(R"({"step_results":[7]})"), "step 1 is not an object");
}

TEST(interpret_daemon_answer, prints_the_daemons_report_in_the_clis_format_and_exits_0_when_it_passed) {
    const auto report = sample_report(true);
    const auto r = interpret_daemon_answer(daemon, daemon.api, 200, daemon_body(report));
    EXPECT_EQ(r.exit_code, exit_ok);
    EXPECT_EQ(r.output, "asked the running daemon (pid 4242, http://127.0.0.1:4257)\n" + format_test_report(report) +
                            "the daemon's session is connected\n");
}

TEST(interpret_daemon_answer, exits_1_when_the_daemons_test_failed) {
    const auto r = interpret_daemon_answer(daemon, daemon.api, 200, daemon_body(sample_report(false)));
    EXPECT_EQ(r.exit_code, exit_failure);
    EXPECT_NE(r.output.find("connection test FAILED at step init"), std::string::npos) << r.output;
}

TEST(interpret_daemon_answer, a_refused_token_says_to_ask_with_the_daemons_token_and_that_it_will_not_log_in) {
    for (const unsigned status : {401u, 403u}) {
        const auto r = interpret_daemon_answer(daemon, daemon.api, status,
                                               R"({"error":"missing or wrong API token","status":401})");
        EXPECT_EQ(r.exit_code, exit_tempfail);
        EXPECT_NE(r.output.find("pid 4242"), std::string::npos) << r.output;
        EXPECT_NE(r.output.find("SESSIOND_API_TOKEN"), std::string::npos) << r.output;
        EXPECT_NE(r.output.find("does not log in itself while a daemon keeps this IBKR username"), std::string::npos)
            << r.output;
    }
}

TEST(interpret_daemon_answer, an_answer_without_a_verdict_is_no_verdict) {
    EXPECT_EQ(interpret_daemon_answer(daemon, daemon.api, 200, "not json").exit_code, exit_tempfail);
    EXPECT_EQ(interpret_daemon_answer(daemon, daemon.api, 200, R"({"step_results":"x"})").exit_code, exit_tempfail);
    const auto busy = interpret_daemon_answer(daemon, daemon.api, 504, R"({"error":"still running\u001b[2J"})");
    EXPECT_EQ(busy.exit_code, exit_tempfail);
    EXPECT_NE(busy.output.find("HTTP 504: still running[2J"), std::string::npos) << "control characters dropped: "
                                                                                  << busy.output;
    const auto unconfigured = interpret_daemon_answer(daemon, daemon.api, 409, R"({"error":"not configured"})");
    EXPECT_NE(unconfigured.output.find("is not configured"), std::string::npos) << unconfigured.output;
}

TEST(daemon_api_address, is_what_the_holder_said_else_sessiond_listen) {
    service_options service;
    service.listen = listen_address{"0.0.0.0", 4300};
    EXPECT_EQ(daemon_api_address(daemon, service), "http://127.0.0.1:4257");
    EXPECT_EQ(daemon_api_address(lock_holder{}, service), "http://127.0.0.1:4300");
    service.listen.port = 0;
    EXPECT_EQ(daemon_api_address(lock_holder{}, service), "");
}

TEST(ask_daemon_to_test, without_an_api_token_refuses_without_asking_or_logging_in) {
    settings config;
    const auto r = ask_daemon_to_test(daemon, config);
    EXPECT_EQ(r.exit_code, exit_tempfail);
    EXPECT_NE(r.output.find("none is configured: set SESSIOND_API_TOKEN"), std::string::npos) << r.output;
}

TEST(ask_daemon_to_test, another_test_connection_holding_the_username_is_waited_for_not_asked) {
    settings config;
    const auto r = ask_daemon_to_test(lock_holder{99, {}, "1.0.0", "test-connection"}, config);
    EXPECT_EQ(r.exit_code, exit_tempfail);
    EXPECT_NE(r.output.find("run test-connection again once it has ended"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace sessiond
