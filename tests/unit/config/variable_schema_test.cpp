#include "sessiond/config/variable_schema.hpp"

#include "sessiond/config/user_rows.hpp"
#include "sessiond/config/variable_reader.hpp"
#include "sessiond/config/variable_suggestions.hpp"
#include "support/test_keys.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace sessiond {
namespace {

using testing::shared_rsa_key;
using strings = std::vector<std::string>;

TEST(variable_schema, documents_the_default_of_every_number_as_session_options_holds_it) {
    const session_options defaults;
    for (const variable_row& row : variable_schema()) {
        if (row.seconds != nullptr)
            EXPECT_EQ(row.default_value, format_seconds((defaults.*row.seconds).count())) << row.name;
        if (row.count != nullptr) EXPECT_EQ(row.default_value, std::to_string(defaults.*row.count)) << row.name;
        if (row.seconds != nullptr || row.count != nullptr) {
            const double value = row.seconds != nullptr ? (defaults.*row.seconds).count() : defaults.*row.count;
            EXPECT_TRUE(row.bounds.contains(value)) << row.name << ": the default is outside the bounds";
        }
    }
}

TEST(variable_schema, gives_every_row_a_one_line_doc) {
    for (const variable_row& row : variable_schema()) {
        EXPECT_FALSE(row.doc.empty()) << row.name;
        EXPECT_EQ(row.doc.find('\n'), std::string_view::npos) << row.name;
    }
}

TEST(variable_schema, known_variables_and_secrets_come_from_the_rows) {
    ASSERT_EQ(known_variables().size(), variable_schema().size());
    std::set<std::string_view> secrets;
    for (std::size_t i = 0; i < variable_schema().size(); ++i) {
        EXPECT_EQ(known_variables()[i], variable_schema()[i].name);
        if (variable_schema()[i].secret) secrets.insert(variable_schema()[i].name);
    }
    EXPECT_EQ(secrets, (std::set<std::string_view>{"IBKR_PRIVATE_KEY", "IBKR_CREDENTIAL", "SESSIOND_API_TOKEN", "SESSIOND_GATEWAY_TOKEN"}));
    EXPECT_EQ(find_variable("IBKR_TICKEL_INTERVAL"), nullptr);
    EXPECT_EQ(&schema_row("IBKR_ENV"), find_variable("IBKR_ENV"));
}

TEST(variable_schema, a_user_is_an_identity_an_endpoint_and_a_region) {
    std::set<std::string_view> user;
    for (const variable_row& row : variable_schema())
        if (row.scope == variable_scope::user) user.insert(row.name);
    EXPECT_EQ(user, (std::set<std::string_view>{"IBKR_CLIENT_ID", "IBKR_CLIENT_KEY_ID", "IBKR_PRIVATE_KEY",
                                                "IBKR_PRIVATE_KEY_FILE", "IBKR_CREDENTIAL", "IBKR_ACCOUNT_ID",
                                                "IBKR_ALLOWED_IP", "IBKR_ENV", "IBKR_SCOPE", "IBKR_BASE_URL",
                                                "IBKR_CA_FILE", "IBKR_COMPETE", "IBKR_REGION", "IBKR_RESET_TIME"}));
}

TEST(variable_schema, the_production_defaults_are_within_ibkrs_limits) {
    EXPECT_TRUE(limits_looser_than_ibkr(session_options{}).empty());
}

TEST(variable_schema, reports_every_looser_limit_in_the_schemas_order) {
    session_options o;
    o.pace_tickle = seconds_f(0.5);
    o.pace_validate = seconds_f(0);
    o.max_requests_per_second = 11;
    o.login_min_interval = seconds_f(0);
    o.logins_per_hour = 31;
    o.rate_limit_penalty = seconds_f(599);
    strings found;
    for (const limit_breach& b : limits_looser_than_ibkr(o)) found.push_back(std::string(b.variable) + "=" + b.value);
    EXPECT_EQ(found, (strings{"IBKR_PACE_TICKLE=0.5 s", "IBKR_PACE_VALIDATE=0 s", "IBKR_MAX_REQUESTS_PER_SECOND=11",
                              "SESSIOND_LOGIN_MIN_INTERVAL=0 s", "SESSIOND_LOGINS_PER_HOUR=31",
                              "SESSIOND_RATE_LIMIT_PENALTY=599 s"}));
}

// One user's rows read from a plain string map, as multi-user mode will read a database row.
struct loaded_user {
    ibkr_profile profile;
    session_options options;
    std::vector<config_problem> problems;
    std::vector<std::string> warnings;
};

loaded_user load_user_from(const std::map<std::string, std::string>& row) {
    configured_values values;
    for (const auto& [name, value] : row) {
        values.values.emplace(name, value);
        if (is_secret_variable(name)) values.secret_values.emplace_back(value);
    }
    loaded_user out;
    variable_reader in(values, out.problems, out.warnings);
    load_user_rows(in, user_host{}, out.profile, out.options);
    return out;
}

TEST(user_rows, load_from_any_string_map_and_leave_the_daemon_rows_alone) {
    const loaded_user user = load_user_from({
        {"IBKR_CLIENT_ID", "TESTCLIENT01"}, {"IBKR_CLIENT_KEY_ID", "main-key"},
        {"IBKR_PRIVATE_KEY", shared_rsa_key().pkcs8_pem}, {"IBKR_CREDENTIAL", "jdoe1234"},
        {"IBKR_ACCOUNT_ID", "DU1234567"}, {"IBKR_ALLOWED_IP", "203.0.113.7"},
        {"IBKR_ENV", "live"}, {"IBKR_REGION", "none"}, {"IBKR_COMPETE", "false"},
        {"IBKR_PACE_VALIDATE", "0"},  // a daemon-wide row: not the user loader's to read
    });
    ASSERT_TRUE(user.problems.empty()) << user.problems.front().variable << ": " << user.problems.front().message;
    EXPECT_TRUE(user.warnings.empty());
    EXPECT_EQ(user.profile.client_id, "TESTCLIENT01");
    EXPECT_EQ(user.profile.credential, "jdoe1234");
    EXPECT_EQ(user.profile.environment, ibkr_environment::live);
    EXPECT_TRUE(user.profile.private_key.has_value());
    EXPECT_EQ(user.profile.private_key_source, "IBKR_PRIVATE_KEY");
    EXPECT_FALSE(user.options.compete);
    EXPECT_EQ(user.options.calendar, nullptr);
    EXPECT_EQ(user.options.pace_validate.count(), 60);
}

TEST(user_rows, report_what_is_missing_in_the_row) {
    strings names;
    for (const config_problem& p : load_user_from({}).problems) names.push_back(p.variable);
    EXPECT_EQ(names, (strings{"IBKR_CLIENT_ID", "IBKR_CLIENT_KEY_ID", "IBKR_CREDENTIAL", "IBKR_ACCOUNT_ID",
                              "IBKR_ALLOWED_IP", "IBKR_ENV", "IBKR_PRIVATE_KEY"}));
}

TEST(variable_suggestions, suggest_the_nearest_known_name_within_two_edits_ignoring_case) {
    EXPECT_EQ(suggest_variable("IBKR_TICKEL_INTERVAL"), "IBKR_TICKLE_INTERVAL");
    EXPECT_EQ(suggest_variable("ibkr_client_id"), "IBKR_CLIENT_ID");
    EXPECT_EQ(suggest_variable("SESSIOND_BACKOF_MAX"), "SESSIOND_BACKOFF_MAX");
    EXPECT_EQ(suggest_variable("IBKR_SOMETHING_ELSE"), std::nullopt);
}

TEST(variable_suggestions, only_unknown_names_under_the_daemons_prefixes_are_typos) {
    EXPECT_TRUE(is_unknown_daemon_variable("SESSIOND_FOO"));
    EXPECT_TRUE(is_unknown_daemon_variable("ibkr_env"));  // the schema's names are upper case
    EXPECT_FALSE(is_unknown_daemon_variable("IBKR_ENV"));
    EXPECT_FALSE(is_unknown_daemon_variable("PATH"));
    EXPECT_FALSE(is_unknown_daemon_variable("TZDIR"));
}

TEST(variable_suggestions, edit_distance_counts_a_swap_of_neighbours_as_one) {
    EXPECT_EQ(edit_distance("TICKLE", "TICKEL"), 1);
    EXPECT_EQ(edit_distance("", "ABC"), 3);
    EXPECT_EQ(edit_distance("ABC", "ABC"), 0);
    EXPECT_EQ(edit_distance("KITTEN", "SITTING"), 3);
}

}  // namespace
}  // namespace sessiond
