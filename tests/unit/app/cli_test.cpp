#include "sessiond/app/cli.hpp"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace sessiond {
namespace {

expected<command_line> parse(std::initializer_list<std::string_view> args) {
    const std::vector<std::string_view> v(args);
    return parse_command_line(v);
}

std::string error_of(std::initializer_list<std::string_view> args) {
    const auto r = parse(args);
    if (r) return "(accepted)";
    return r.error().message;
}

TEST(cli, no_arguments_runs_with_defaults) {
    const auto c = parse({});
    ASSERT_TRUE(c);
    EXPECT_EQ(c->what, command::run);
    EXPECT_FALSE(c->env_file);
    EXPECT_EQ(c->log_level, spdlog::level::info);
}

TEST(cli, each_command_is_recognised) {
    EXPECT_EQ(parse({"run"})->what, command::run);
    EXPECT_EQ(parse({"check-config"})->what, command::check_config);
    EXPECT_EQ(parse({"test-connection"})->what, command::test_connection);
}

TEST(cli, the_vault_commands_are_two_words) {
    EXPECT_EQ(parse({"keys", "status"})->what, command::keys_status);
    EXPECT_EQ(parse({"keys", "rewrap"})->what, command::keys_rewrap);
    EXPECT_EQ(parse({"audit", "verify"})->what, command::audit_verify);
}

TEST(cli, options_may_come_around_and_between_the_two_words) {
    const auto c = parse({"--env-file", "a.env", "keys", "--log-level=debug", "rewrap", "--allow-core-dumps"});
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->what, command::keys_rewrap);
    EXPECT_EQ(c->env_file, std::filesystem::path("a.env"));
    EXPECT_EQ(c->log_level, spdlog::level::debug);
    EXPECT_TRUE(c->allow_core_dumps);
}

TEST(cli, a_group_without_its_second_word_is_refused_naming_the_choices) {
    EXPECT_EQ(error_of({"keys"}), "keys needs a command: keys status or rewrap");
    EXPECT_EQ(error_of({"audit"}), "audit needs a command: audit verify");
    EXPECT_EQ(error_of({"keys", "--env-file", "a.env"}), "keys needs a command: keys status or rewrap");
}

TEST(cli, an_unknown_second_word_is_refused_by_name) {
    EXPECT_EQ(error_of({"keys", "frobnicate"}), "unknown keys command \"frobnicate\" (status or rewrap)");
    EXPECT_EQ(error_of({"keys", "verify"}), "unknown keys command \"verify\" (status or rewrap)");
    EXPECT_EQ(error_of({"audit", "status"}), "unknown audit command \"status\" (verify)");
    EXPECT_EQ(error_of({"keys", "STATUS"}), "unknown keys command \"STATUS\" (status or rewrap)");
}

TEST(cli, a_second_word_alone_or_a_third_word_is_refused) {
    EXPECT_EQ(error_of({"status"}), "unknown command \"status\"");
    EXPECT_EQ(error_of({"rewrap"}), "unknown command \"rewrap\"");
    EXPECT_EQ(error_of({"keys", "status", "rewrap"}), "unexpected argument \"rewrap\" (one command at a time)");
    EXPECT_EQ(error_of({"audit", "verify", "keys"}), "unexpected argument \"keys\" (one command at a time)");
    EXPECT_EQ(error_of({"run", "keys", "status"}), "unexpected argument \"keys\" (one command at a time)");
}

TEST(cli, allow_unverifiable_goes_with_audit_verify_only) {
    EXPECT_FALSE(parse({"audit", "verify"})->allow_unverifiable);
    EXPECT_TRUE(parse({"audit", "verify", "--allow-unverifiable"})->allow_unverifiable);
    EXPECT_TRUE(parse({"--allow-unverifiable", "audit", "verify"})->allow_unverifiable);
    constexpr std::string_view refused = "--allow-unverifiable goes with audit verify only";
    EXPECT_EQ(error_of({"keys", "rewrap", "--allow-unverifiable"}), refused);
    EXPECT_EQ(error_of({"check-config", "--allow-unverifiable"}), refused);
    EXPECT_EQ(error_of({"--allow-unverifiable"}), refused) << "run, the default command";
}

TEST(cli, help_and_version_flags) {
    EXPECT_EQ(parse({"--help"})->what, command::help);
    EXPECT_EQ(parse({"-h"})->what, command::help);
    EXPECT_EQ(parse({"--version"})->what, command::version);
}

TEST(cli, help_and_version_win_over_whatever_follows) {
    EXPECT_EQ(parse({"--help", "bogus", "--nonsense"})->what, command::help);
    EXPECT_EQ(parse({"run", "--version", "extra"})->what, command::version);
    EXPECT_EQ(parse({"check-config", "-h"})->what, command::help);
}

TEST(cli, core_dumps_are_refused_unless_allowed) {
    EXPECT_FALSE(parse({"run"})->allow_core_dumps);
    EXPECT_TRUE(parse({"run", "--allow-core-dumps"})->allow_core_dumps);
}

TEST(cli, env_file_as_separate_argument) {
    const auto c = parse({"--env-file", "/etc/ibkr-sessiond/env"});
    ASSERT_TRUE(c);
    EXPECT_EQ(c->env_file, std::filesystem::path("/etc/ibkr-sessiond/env"));
    EXPECT_EQ(c->what, command::run);
}

TEST(cli, env_file_with_equals) {
    EXPECT_EQ(parse({"--env-file=/etc/ibkr-sessiond/env"})->env_file, std::filesystem::path("/etc/ibkr-sessiond/env"));
    // Only the first '=' separates; the path may contain more.
    EXPECT_EQ(parse({"--env-file=a=b.env"})->env_file, std::filesystem::path("a=b.env"));
}

TEST(cli, env_file_without_value_is_refused) {
    EXPECT_EQ(error_of({"--env-file"}), "--env-file needs a value");
    EXPECT_EQ(error_of({"check-config", "--env-file"}), "--env-file needs a value");
}

TEST(cli, env_file_with_empty_path_is_refused) {
    EXPECT_EQ(error_of({"--env-file="}), "--env-file needs a path");
    EXPECT_EQ(error_of({"--env-file", ""}), "--env-file needs a path");
}

TEST(cli, log_level_accepts_every_level_in_both_forms) {
    const std::pair<std::string_view, spdlog::level::level_enum> table[] = {
        {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug}, {"info", spdlog::level::info},
        {"warn", spdlog::level::warn},   {"warning", spdlog::level::warn}, {"error", spdlog::level::err},
    };
    for (const auto& [name, level] : table) {
        SCOPED_TRACE(std::string(name));
        EXPECT_EQ(parse({"--log-level", name})->log_level, level);
        const std::string joined = "--log-level=" + std::string(name);
        EXPECT_EQ(parse({joined})->log_level, level);
    }
}

TEST(cli, unknown_log_level_is_refused_naming_the_choices) {
    EXPECT_EQ(error_of({"--log-level", "verbose"}),
              "--log-level: \"verbose\" is not one of trace, debug, info, warn, error");
    EXPECT_EQ(error_of({"--log-level=DEBUG"}), "--log-level: \"DEBUG\" is not one of trace, debug, info, warn, error");
    EXPECT_EQ(error_of({"--log-level="}), "--log-level: \"\" is not one of trace, debug, info, warn, error");
    EXPECT_EQ(error_of({"--log-level", "critical"}),
              "--log-level: \"critical\" is not one of trace, debug, info, warn, error");
}

TEST(cli, log_level_without_value_is_refused) {
    EXPECT_EQ(error_of({"--log-level"}), "--log-level needs a value");
}

TEST(cli, options_may_come_before_or_after_the_command) {
    const auto before = parse({"--env-file", "a.env", "--log-level", "debug", "check-config"});
    const auto after = parse({"check-config", "--log-level=debug", "--env-file=a.env"});
    for (const auto* c : {&before, &after}) {
        ASSERT_TRUE(*c);
        EXPECT_EQ((*c)->what, command::check_config);
        EXPECT_EQ((*c)->env_file, std::filesystem::path("a.env"));
        EXPECT_EQ((*c)->log_level, spdlog::level::debug);
    }
}

TEST(cli, repeated_option_takes_the_last_value) {
    const auto c = parse({"--log-level", "trace", "--log-level", "error", "--env-file", "a", "--env-file=b"});
    ASSERT_TRUE(c);
    EXPECT_EQ(c->log_level, spdlog::level::err);
    EXPECT_EQ(c->env_file, std::filesystem::path("b"));
}

TEST(cli, unknown_option_is_refused_by_name) {
    EXPECT_EQ(error_of({"--verbose"}), "unknown option --verbose");
    EXPECT_EQ(error_of({"-v"}), "unknown option -v");
    EXPECT_EQ(error_of({"-"}), "unknown option -");
    EXPECT_EQ(error_of({"--version=1"}), "unknown option --version=1");
    EXPECT_EQ(error_of({"--env-filex=a"}), "unknown option --env-filex=a");
    EXPECT_EQ(error_of({"run", "--log"}), "unknown option --log");
}

TEST(cli, unknown_command_is_refused_by_name) {
    EXPECT_EQ(error_of({"start"}), "unknown command \"start\"");
    EXPECT_EQ(error_of({"RUN"}), "unknown command \"RUN\"");
    EXPECT_EQ(error_of({""}), "unknown command \"\"");
}

TEST(cli, second_command_is_refused) {
    EXPECT_EQ(error_of({"run", "check-config"}), "unexpected argument \"check-config\" (one command at a time)");
    EXPECT_EQ(error_of({"check-config", "extra"}), "unexpected argument \"extra\" (one command at a time)");
}

TEST(cli, usage_names_every_command_and_option) {
    const std::string usage = usage_text();
    for (const char* word : {"run", "check-config", "test-connection", "keys status", "keys rewrap", "audit verify",
                             "--env-file", "--log-level", "--allow-core-dumps", "--allow-unverifiable", "--version",
                             "--help", "trace", "debug", "info", "warn", "error"}) {
        EXPECT_NE(usage.find(word), std::string::npos) << word;
    }
    EXPECT_TRUE(usage.starts_with("Usage: ibkr-sessiond"));
    EXPECT_TRUE(usage.ends_with("\n"));
}

TEST(cli, version_names_the_program_and_its_version) {
    EXPECT_EQ(version_text(), "ibkr-sessiond " SESSIOND_VERSION "\n");
}

TEST(cli, exit_codes_follow_sysexits) {
    EXPECT_EQ(exit_ok, 0);
    EXPECT_EQ(exit_failure, 1);
    EXPECT_EQ(exit_usage, 64);
    EXPECT_EQ(exit_oserr, 71);
    EXPECT_EQ(exit_tempfail, 75);
    EXPECT_EQ(exit_config, 78);
}

}  // namespace
}  // namespace sessiond
