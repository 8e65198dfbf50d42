// SESSIOND_DATABASE: multi-user mode's SQLite file, and which file is used when it is unset; or a
// PostgreSQL server, by libpq's connection string.

#include "sessiond/config/settings.hpp"
#include "sessiond/config/variable_schema.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace sessiond {
namespace {

namespace fs = std::filesystem;
using testing::temp_dir;

std::vector<std::string> database_problems(const config_report& report) {
    std::vector<std::string> out;
    for (const config_problem& p : report.problems)
        if (p.variable == "SESSIOND_DATABASE") out.push_back(p.message + (p.blocks_start ? " (blocks start)" : ""));
    return out;
}

TEST(database_setting, is_a_daemon_wide_variable_beside_the_state_directory) {
    const variable_row* row = find_variable("SESSIOND_DATABASE");
    ASSERT_NE(row, nullptr);
    EXPECT_EQ(row->scope, variable_scope::daemon);
    EXPECT_FALSE(row->secret);
    EXPECT_EQ(row->parser, value_parser::file_path);
    const auto names = known_variables();
    const auto at = std::find(names.begin(), names.end(), "SESSIOND_DATABASE");
    ASSERT_NE(at, names.begin());
    EXPECT_EQ(*(at - 1), "SESSIOND_STATE_DIR");
}

TEST(database_setting, an_absolute_path_is_taken_as_configured) {
    config_sources sources;
    sources.environment["SESSIOND_DATABASE"] = "/srv/sessiond/users.sqlite3";
    const config_report report = load_settings(sources);
    EXPECT_TRUE(database_problems(report).empty());
    EXPECT_EQ(report.values.service.database, fs::path("/srv/sessiond/users.sqlite3"));
}

TEST(database_setting, from_the_env_file_counts_as_configured) {
    const temp_dir dir;
    config_sources sources;
    sources.env_file = dir.write("sessiond.env", "SESSIOND_DATABASE=/srv/from-file.sqlite3\n");
    EXPECT_EQ(load_settings(sources).values.service.database, fs::path("/srv/from-file.sqlite3"));
}

TEST(database_setting, a_relative_path_is_a_problem_naming_the_variable_and_is_not_used) {
    config_sources sources;
    sources.environment["SESSIOND_DATABASE"] = "data/sessiond.sqlite3";
    const config_report report = load_settings(sources);
    EXPECT_EQ(database_problems(report), std::vector<std::string>{"\"data/sessiond.sqlite3\" is not an absolute path"});
    EXPECT_FALSE(report.values.service.database);
}

TEST(database_setting, unset_or_empty_means_the_default) {
    config_sources sources;
    EXPECT_FALSE(load_settings(sources).values.service.database);
    sources.environment["SESSIOND_DATABASE"] = "";
    const config_report report = load_settings(sources);
    EXPECT_FALSE(report.values.service.database);
    EXPECT_TRUE(database_problems(report).empty());
}

TEST(database_setting, the_configured_file_wins_over_the_state_directory) {
    service_options svc;
    svc.state_dir = "/var/lib/ibkr-sessiond";
    svc.database = "/srv/users.sqlite3";
    const auto file = database_file(svc);
    ASSERT_TRUE(file) << file.error().message;
    EXPECT_EQ(*file, fs::path("/srv/users.sqlite3"));
}

TEST(database_setting, defaults_to_sessiond_sqlite3_in_the_state_directory_in_use) {
    service_options svc;
    svc.state_dir = "/var/lib/ibkr-sessiond";
    const auto file = database_file(svc);
    ASSERT_TRUE(file) << file.error().message;
    EXPECT_EQ(*file, fs::path("/var/lib/ibkr-sessiond/sessiond.sqlite3"));
}

TEST(database_setting, the_default_follows_the_directory_use_state_directory_chose) {
    const temp_dir dir;
    config_sources sources;
    sources.environment["SESSIOND_STATE_DIR"] = (dir.path() / "state").string();
    config_report report = load_settings(sources);
    use_state_directory(report);
    const auto file = database_file(report.values.service);
    ASSERT_TRUE(file) << file.error().message;
    EXPECT_EQ(*file, dir.path() / "state" / "sessiond.sqlite3");
}

TEST(database_setting, without_either_the_error_says_what_to_set_and_why_there_is_no_default) {
    service_options svc;
    svc.state_dir_unavailable = "no usable state directory (HOME: not set)";
    const auto file = database_file(svc);
    ASSERT_FALSE(file);
    EXPECT_EQ(file.error().message,
              "no database file: set SESSIOND_DATABASE to the absolute path of the SQLite file (no usable state "
              "directory (HOME: not set), where it would be sessiond.sqlite3 by default)");
    EXPECT_NE(database_file(service_options{}).error().message.find("set SESSIOND_DATABASE"), std::string::npos);
}

TEST(database_setting, a_postgresql_uri_or_key_value_string_names_a_server_not_a_file) {
    for (const std::string value : {"postgresql://sessiond@db.internal:5432/sessiond?sslmode=verify-full",
                                    "postgres://", "host=/run/postgresql dbname=sessiond",
                                    "service=sessiond"}) {
        config_sources sources;
        sources.environment["SESSIOND_DATABASE"] = value;
        const config_report report = load_settings(sources);
        EXPECT_TRUE(database_problems(report).empty()) << value;
        EXPECT_FALSE(report.values.service.database) << value;
        EXPECT_EQ(report.values.service.database_server.reveal(), value);
    }
    for (const std::string file : {"/srv/a=b.sqlite3", "relative/users.sqlite3", "/srv/users.sqlite3"})
        EXPECT_FALSE(names_a_database_server(file)) << file;
}

TEST(database_setting, a_connection_string_libpq_cannot_read_is_named_and_its_password_never_shown) {
    config_sources sources;
    sources.environment["SESSIOND_DATABASE"] = "host=db password=hunter2-secret nonsense";
    const config_report report = load_settings(sources);
    const auto problems = database_problems(report);
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_NE(problems[0].find("is not a PostgreSQL connection string libpq can read"), std::string::npos) << problems[0];
    EXPECT_EQ(problems[0].find("hunter2"), std::string::npos) << problems[0];
    EXPECT_TRUE(report.values.service.database_server.empty());

    // Without a password in it, libpq's own reason helps.
    sources.environment["SESSIOND_DATABASE"] = "postgresql://db/sessiond?frobnicate=1";
    const auto without = database_problems(load_settings(sources));
    ASSERT_EQ(without.size(), 1u);
    EXPECT_NE(without[0].find("frobnicate"), std::string::npos) << without[0];
}

}  // namespace
}  // namespace sessiond

namespace sessiond {
namespace {

std::vector<std::string> problems_of(const config_report& report, std::string_view variable) {
    std::vector<std::string> out;
    for (const config_problem& p : report.problems)
        if (p.variable == variable) out.push_back(p.message);
    return out;
}

// SESSIOND_REPLICA_ID: several daemons share a PostgreSQL database in multi-user mode, nothing else.
TEST(replica_setting, a_replica_name_needs_multi_user_mode_on_postgresql_and_a_plain_name) {
    config_sources sources;
    sources.environment["ENABLE_MULTI_USER"] = "true";
    sources.environment["SESSIOND_DATABASE"] = "host=/run/postgresql dbname=sessiond";
    sources.environment["SESSIOND_REPLICA_ID"] = "host-a.1";
    sources.environment["SESSIOND_LEASE_TTL"] = "20";
    config_report report = load_settings(sources);
    EXPECT_TRUE(problems_of(report, "SESSIOND_REPLICA_ID").empty());
    EXPECT_EQ(report.values.service.replica_id, "host-a.1");
    EXPECT_EQ(report.values.service.lease_ttl, std::chrono::seconds(20));

    sources.environment["SESSIOND_DATABASE"] = "/srv/users.sqlite3";
    report = load_settings(sources);
    auto problems = problems_of(report, "SESSIOND_REPLICA_ID");
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_NE(problems[0].find("replicas share a PostgreSQL database in multi-user mode"), std::string::npos)
        << problems[0];
    EXPECT_TRUE(report.values.service.replica_id.empty());

    sources.environment["SESSIOND_DATABASE"] = "host=/run/postgresql dbname=sessiond";
    sources.environment["SESSIOND_REPLICA_ID"] = "a/b";
    problems = problems_of(load_settings(sources), "SESSIOND_REPLICA_ID");
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_NE(problems[0].find("is not a replica name"), std::string::npos) << problems[0];

    sources.environment["SESSIOND_REPLICA_ID"] = "a";
    sources.environment["SESSIOND_LEASE_TTL"] = "2";
    problems = problems_of(load_settings(sources), "SESSIOND_LEASE_TTL");
    ASSERT_EQ(problems.size(), 1u) << "shorter than 5 s is refused";
}

}  // namespace
}  // namespace sessiond
