#include "sessiond/config/settings.hpp"

#include "sessiond/config/systemd_environment.hpp"
#include "sessiond/config/variable_schema.hpp"
#include "sessiond/log/redact.hpp"
#include "support/temp_dir.hpp"
#include "support/test_keys.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <set>
#include <stdexcept>

namespace sessiond {
namespace {

namespace fs = std::filesystem;
using testing::shared_rsa_key;
using testing::temp_dir;
using strings = std::vector<std::string>;

constexpr std::string_view missing_key_message =
    "missing (set IBKR_PRIVATE_KEY, IBKR_PRIVATE_KEY_FILE or the systemd credential ibkr-private-key)";

// A configuration the daemon can run with, given entirely in the environment.
std::map<std::string, std::string> valid_environment() {
    return {
        {"IBKR_CLIENT_ID", "TESTCLIENT01"},
        {"IBKR_CLIENT_KEY_ID", "main-key"},
        {"IBKR_PRIVATE_KEY", shared_rsa_key().pkcs8_pem},
        {"IBKR_CREDENTIAL", "jdoe1234"},
        {"IBKR_ACCOUNT_ID", "DU1234567"},
        {"IBKR_ALLOWED_IP", "203.0.113.7"},
        {"IBKR_ENV", "paper"},
    };
}

// The PEM as the integration guide writes it in a variable: one line, "\n" as two characters.
std::string escaped_pem(std::string_view pem) {
    std::string out;
    for (const char c : pem) out += c == '\n' ? std::string("\\n") : std::string(1, c);
    return out;
}

strings problems_of(const config_report& report) {
    strings out;
    for (const config_problem& p : report.problems) out.push_back(p.variable + ": " + p.message);
    return out;
}

// A self-signed certificate, for IBKR_CA_FILE.
std::string self_signed_certificate_pem() {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), &EVP_PKEY_free);
    std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), &X509_free);
    if (!key || !cert) throw std::runtime_error("certificate generation failed");
    X509_set_version(cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
    X509_set_pubkey(cert.get(), key.get());
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("test CA"), -1, -1,
                               0);
    X509_set_issuer_name(cert.get(), name);
    if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) throw std::runtime_error("certificate signing failed");
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
    PEM_write_bio_X509(bio.get(), cert.get());
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(len));
}

class config_settings : public ::testing::Test {
protected:
    config_settings() { sources.environment = valid_environment(); }

    config_report load() { return load_settings(sources); }

    // Loads with one variable changed and returns the problems.
    strings problems_with(const std::string& name, const std::string& value) {
        sources.environment[name] = value;
        return problems_of(load());
    }

    // The key comes from a file instead of the environment.
    fs::path use_key_file(const std::string& pem, fs::perms mode = fs::perms::owner_read | fs::perms::owner_write) {
        const fs::path path = dir.write("key.pem", pem);
        fs::permissions(path, mode);
        sources.environment.erase("IBKR_PRIVATE_KEY");
        sources.environment["IBKR_PRIVATE_KEY_FILE"] = path.string();
        return path;
    }

    // The key comes from the systemd credential instead of the environment.
    fs::path use_credential(const std::string& pem) {
        const fs::path path = dir.write("credentials/ibkr-private-key", pem);
        sources.environment.erase("IBKR_PRIVATE_KEY");
        sources.credentials_directory = dir.path() / "credentials";
        return path;
    }

    fs::path use_env_file(const std::string& text) {
        const fs::path path = dir.write("sessiond.env", text);
        sources.env_file = path;
        return path;
    }

    temp_dir dir;
    config_sources sources;
};

// ---- a good configuration ---------------------------------------------------------------------

TEST_F(config_settings, accepts_a_complete_configuration_and_fills_every_field) {
    const config_report report = load();
    ASSERT_TRUE(report.ok()) << format_config_report(report);
    EXPECT_TRUE(report.warnings.empty());
    const ibkr_profile& p = report.values.profile;
    EXPECT_EQ(p.client_id, "TESTCLIENT01");
    EXPECT_EQ(p.client_key_id, "main-key");
    EXPECT_EQ(p.credential, "jdoe1234");
    EXPECT_EQ(p.account_id, "DU1234567");
    EXPECT_EQ(p.allowed_ip, "203.0.113.7");
    EXPECT_EQ(p.environment, ibkr_environment::paper);
    ASSERT_TRUE(p.private_key);
    EXPECT_EQ(p.private_key->bits(), 2048);
    EXPECT_EQ(p.private_key->format(), "PKCS#8");
    EXPECT_EQ(p.private_key_source, "IBKR_PRIVATE_KEY");
}

TEST_F(config_settings, uses_the_defaults_for_unset_optional_variables) {
    const config_report report = load();
    ASSERT_TRUE(report.ok()) << format_config_report(report);
    const session_options& o = report.values.options;
    EXPECT_EQ(report.values.profile.scope, "sso-sessions.write");
    EXPECT_EQ(o.endpoint.text, "https://api.ibkr.com");
    EXPECT_EQ(o.endpoint.host, "api.ibkr.com");
    EXPECT_EQ(o.endpoint.port, 443);
    EXPECT_FALSE(o.ca_file);
    EXPECT_EQ(o.tickle_interval.count(), 60);
    EXPECT_EQ(o.init_settle.count(), 3);
    EXPECT_EQ(o.http_timeout.count(), 10);
    EXPECT_TRUE(o.compete);
    EXPECT_EQ(o.backoff_initial.count(), 2);
    EXPECT_EQ(o.backoff_max.count(), 300);
    EXPECT_EQ(o.pace_tickle.count(), 1);
    EXPECT_EQ(o.pace_validate.count(), 60);
    EXPECT_EQ(report.values.broker_provider, "ibkr");
    EXPECT_FALSE(report.values.multi_user);
}

TEST_F(config_settings, an_empty_optional_variable_means_the_default) {
    for (const std::string_view name : known_variables()) {
        if (!sources.environment.contains(std::string(name))) sources.environment[std::string(name)] = "";
    }
    const config_report report = load();
    ASSERT_TRUE(report.ok()) << format_config_report(report);
    EXPECT_EQ(report.values.options.endpoint.text, "https://api.ibkr.com");
    EXPECT_EQ(report.values.options.tickle_interval.count(), 60);
    EXPECT_EQ(report.values.profile.scope, "sso-sessions.write");
}

TEST_F(config_settings, reads_every_optional_variable) {
    const fs::path ca = dir.write("ca.pem", self_signed_certificate_pem());
    sources.environment.insert({
        {"IBKR_SCOPE", "sso-sessions.read"},
        {"IBKR_BASE_URL", "https://localhost:8443/"},
        {"BROKER_PROVIDER", "ibkr"},
        {"ENABLE_MULTI_USER", "false"},
        {"IBKR_CA_FILE", ca.string()},
        {"IBKR_TICKLE_INTERVAL", "0.5"},
        {"IBKR_INIT_SETTLE", "0"},
        {"IBKR_HTTP_TIMEOUT", "1.25"},
        {"IBKR_COMPETE", "no"},
        {"SESSIOND_BACKOFF_INITIAL", "0.1"},
        {"SESSIOND_BACKOFF_MAX", "0.4"},
        {"IBKR_PACE_TICKLE", "0.25"},
        {"IBKR_PACE_VALIDATE", "0"},
        {"SESSIOND_SIMULATOR_LIMITS", "true"},
    });
    sources.environment["IBKR_ENV"] = "LIVE";
    const config_report report = load();
    ASSERT_TRUE(report.ok()) << format_config_report(report);
    const session_options& o = report.values.options;
    EXPECT_EQ(report.values.profile.scope, "sso-sessions.read");
    EXPECT_EQ(report.values.profile.environment, ibkr_environment::live);
    EXPECT_EQ(o.endpoint.text, "https://localhost:8443");
    EXPECT_EQ(o.endpoint.host, "localhost");
    EXPECT_EQ(o.endpoint.port, 8443);
    ASSERT_TRUE(o.ca_file);
    EXPECT_EQ(o.ca_file->string(), ca.string());
    EXPECT_EQ(o.tickle_interval.count(), 0.5);
    EXPECT_EQ(o.init_settle.count(), 0);
    EXPECT_EQ(o.http_timeout.count(), 1.25);
    EXPECT_FALSE(o.compete);
    EXPECT_EQ(o.backoff_initial.count(), 0.1);
    EXPECT_EQ(o.backoff_max.count(), 0.4);
    EXPECT_EQ(o.pace_tickle.count(), 0.25);
    EXPECT_EQ(o.pace_validate.count(), 0);
}

// Each number of the schema, set alone to a value other than its default, is what the settings hold:
// SESSIOND_DAEMON_LOGIN_INTERVAL and SESSIOND_METRICS_USER_SERIES were once documented but never read.
TEST_F(config_settings, reads_every_number_the_schema_documents) {
    const session_options defaults;
    int checked = 0;
    for (const variable_row& row : variable_schema()) {
        if (row.seconds == nullptr && row.count == nullptr) continue;
        const double old = row.seconds != nullptr ? (defaults.*row.seconds).count() : defaults.*row.count;
        // Below the default where the bounds allow it (IBKR_TICKLE_INTERVAL and SESSIOND_BACKOFF_MAX
        // must stay above their partners' defaults, which the default of each already is).
        double value = row.bounds.min_exclusive || row.bounds.min == old ? row.bounds.min + 1 : row.bounds.min;
        if (value >= old) value = old + 1;
        if (row.name == "IBKR_TICKLE_INTERVAL" || row.name == "SESSIOND_BACKOFF_MAX") value = old + 1;
        ASSERT_TRUE(row.bounds.contains(value)) << row.name << " " << value;
        sources.environment = valid_environment();
        sources.environment["SESSIOND_SIMULATOR_LIMITS"] = "true";  // the loosened limits are values too
        sources.environment[std::string(row.name)] = format_seconds(value);
        const config_report report = load();
        ASSERT_TRUE(report.ok()) << row.name << "=" << value << ": " << format_config_report(report);
        const session_options& o = report.values.options;
        EXPECT_EQ(row.seconds != nullptr ? (o.*row.seconds).count() : o.*row.count, value) << row.name;
        ++checked;
    }
    EXPECT_GE(checked, 13);
}

// ---- required variables -----------------------------------------------------------------------

TEST_F(config_settings, reports_every_missing_required_variable) {
    sources.environment.clear();
    EXPECT_EQ(problems_of(load()), (strings{
                                       "IBKR_CLIENT_ID: missing",
                                       "IBKR_CLIENT_KEY_ID: missing",
                                       "IBKR_CREDENTIAL: missing",
                                       "IBKR_ACCOUNT_ID: missing",
                                       "IBKR_ALLOWED_IP: missing",
                                       "IBKR_ENV: missing",
                                       "IBKR_PRIVATE_KEY: " + std::string(missing_key_message),
                                   }));
}

TEST_F(config_settings, reports_an_empty_required_variable_as_empty) {
    for (auto& [name, value] : sources.environment) value.clear();
    EXPECT_EQ(problems_of(load()), (strings{
                                       "IBKR_CLIENT_ID: is empty",
                                       "IBKR_CLIENT_KEY_ID: is empty",
                                       "IBKR_CREDENTIAL: is empty",
                                       "IBKR_ACCOUNT_ID: is empty",
                                       "IBKR_ALLOWED_IP: is empty",
                                       "IBKR_ENV: is empty",
                                       "IBKR_PRIVATE_KEY: is empty",
                                   }));
}

TEST_F(config_settings, rejects_identifiers_with_spaces_or_control_characters) {
    sources.environment["IBKR_CLIENT_ID"] = "TEST CLIENT";
    sources.environment["IBKR_CLIENT_KEY_ID"] = "key\tid";
    sources.environment["IBKR_CREDENTIAL"] = "jdoe\x7f";
    sources.environment["IBKR_SCOPE"] = "sso-sessions.write\n";
    EXPECT_EQ(problems_of(load()), (strings{
                                       "IBKR_CLIENT_ID: must not contain spaces or control characters",
                                       "IBKR_CLIENT_KEY_ID: must not contain spaces or control characters",
                                       "IBKR_CREDENTIAL: must not contain spaces or control characters",
                                       "IBKR_SCOPE: must not contain spaces or control characters",
                                   }));
}

TEST_F(config_settings, accepts_non_ascii_letters_in_identifiers) {
    EXPECT_EQ(problems_with("IBKR_CREDENTIAL", "j\xC3\xB6rg"), strings{});
}

TEST_F(config_settings, rejects_an_account_id_that_is_not_letters_and_digits) {
    EXPECT_EQ(problems_with("IBKR_ACCOUNT_ID", "DU-123"),
              strings{"IBKR_ACCOUNT_ID: \"DU-123\" is not an IBKR account id (letters and digits, e.g. DU1234567)"});
    EXPECT_EQ(problems_with("IBKR_ACCOUNT_ID", "U1234567"), strings{});
}

TEST_F(config_settings, truncates_quoted_values_to_60_characters) {
    const std::string value = std::string(59, 'D') + "-XYZ";
    EXPECT_EQ(problems_with("IBKR_ACCOUNT_ID", value),
              strings{"IBKR_ACCOUNT_ID: \"" + std::string(59, 'D') +
                      "-...\" is not an IBKR account id (letters and digits, e.g. DU1234567)"});
}

TEST_F(config_settings, escapes_control_characters_and_quotes_in_quoted_values) {
    EXPECT_EQ(problems_with("IBKR_ACCOUNT_ID", "DU1\nIBKR_ENV: \"ok\"\x01"),
              strings{"IBKR_ACCOUNT_ID: \"DU1\\nIBKR_ENV: \\\"ok\\\"\\x01\" is not an IBKR account id (letters and "
                      "digits, e.g. DU1234567)"});
}

TEST_F(config_settings, requires_the_allowed_ip_to_be_an_ip_literal) {
    const std::string tail = " is not an IP address; set the public IP that IBKR has whitelisted for this client";
    EXPECT_EQ(problems_with("IBKR_ALLOWED_IP", "my-server"), strings{"IBKR_ALLOWED_IP: \"my-server\"" + tail});
    EXPECT_EQ(problems_with("IBKR_ALLOWED_IP", "203.0.113.7:443"),
              strings{"IBKR_ALLOWED_IP: \"203.0.113.7:443\"" + tail});
    EXPECT_EQ(problems_with("IBKR_ALLOWED_IP", "2001:db8::7"), strings{});
}

TEST_F(config_settings, requires_paper_or_live_in_any_case) {
    EXPECT_EQ(problems_with("IBKR_ENV", "prod"), strings{"IBKR_ENV: \"prod\" must be paper or live"});
    sources.environment["IBKR_ENV"] = "Paper";
    EXPECT_EQ(load().values.profile.environment, ibkr_environment::paper);
    sources.environment["IBKR_ENV"] = "LIVE";
    EXPECT_EQ(load().values.profile.environment, ibkr_environment::live);
    EXPECT_EQ(to_string(ibkr_environment::paper), "paper");
    EXPECT_EQ(to_string(ibkr_environment::live), "live");
}

TEST_F(config_settings, reports_all_problems_together_and_keeps_the_valid_values) {
    sources.environment.erase("IBKR_CLIENT_ID");
    sources.environment["IBKR_ENV"] = "demo";
    sources.environment["IBKR_BASE_URL"] = "http://api.ibkr.com";
    sources.environment["IBKR_TICKLE_INTERVAL"] = "300";
    sources.environment["IBKR_COMPETE"] = "maybe";
    sources.environment["IBKR_PRIVATE_KEY"] = "not a key";
    const config_report report = load();
    EXPECT_EQ(problems_of(report),
              (strings{
                  "IBKR_CLIENT_ID: missing",
                  "IBKR_ENV: \"demo\" must be paper or live",
                  "IBKR_PRIVATE_KEY: not a PEM private key (no BEGIN line)",
                  "IBKR_BASE_URL: must start with https:// (plain http would send credentials in clear)",
                  "IBKR_COMPETE: \"maybe\" is not a boolean (true or false)",
                  "IBKR_TICKLE_INTERVAL: must be at most 290 s: the brokerage session lapses after about 5 minutes "
                  "without a tickle",
              }));
    EXPECT_EQ(report.values.profile.account_id, "DU1234567");
    EXPECT_EQ(report.values.profile.client_key_id, "main-key");
}

// ---- where values come from -------------------------------------------------------------------

TEST_F(config_settings, reads_a_complete_configuration_from_the_env_file) {
    std::string text = "# ibkr-sessiond\n";
    for (const auto& [name, value] : valid_environment()) {
        if (name != "IBKR_PRIVATE_KEY") text += "export " + name + "=" + value + "\n";
    }
    text += "IBKR_PRIVATE_KEY=\"" + escaped_pem(shared_rsa_key().pkcs1_pem) + "\"\n";
    use_env_file(text);
    sources.environment.clear();
    const config_report report = load();
    ASSERT_TRUE(report.ok()) << format_config_report(report);
    EXPECT_TRUE(report.warnings.empty());
    EXPECT_EQ(report.values.profile.client_id, "TESTCLIENT01");
    EXPECT_EQ(report.values.profile.private_key->format(), "PKCS#1");
}

TEST_F(config_settings, the_environment_wins_over_the_env_file) {
    use_env_file("IBKR_ACCOUNT_ID=DU7654321\nIBKR_SCOPE=from-file\nIBKR_HTTP_TIMEOUT=abc\n");
    sources.environment["IBKR_SCOPE"] = "from-environment";
    sources.environment["IBKR_HTTP_TIMEOUT"] = "5";
    const config_report report = load();
    ASSERT_TRUE(report.ok()) << format_config_report(report);
    EXPECT_EQ(report.values.profile.account_id, "DU1234567");
    EXPECT_EQ(report.values.profile.scope, "from-environment");
    EXPECT_EQ(report.values.options.http_timeout.count(), 5);
}

TEST_F(config_settings, variables_copied_from_the_env_file_follow_the_file_on_reload) {
    // As under systemd's EnvironmentFile=: the environment holds copies of some of the file's lines.
    const fs::path file = use_env_file(
        "IBKR_SCOPE=from-file\nIBKR_HTTP_TIMEOUT=7\nIBKR_HTTP_TIMEOUT=8\nIBKR_COMPETE=true   # take over\n"
        "IBKR_TICKLE_INTERVAL=60\n");
    sources.environment["IBKR_SCOPE"] = "from-file";                  // a copy
    sources.environment["IBKR_HTTP_TIMEOUT"] = "7";                   // not the file's value: line 3 wins there
    sources.environment["IBKR_COMPETE"] = "true   # take over";       // systemd keeps inline comments
    sources.environment["IBKR_TICKLE_INTERVAL"] = "120";              // a real override, not a copy
    const std::set<std::string> copied = environment_copied_from_env_file(sources);
    EXPECT_EQ(copied, (std::set<std::string>{"IBKR_COMPETE", "IBKR_SCOPE"}));

    // The file is edited, then reloaded: the copy no longer wins, the real override still does.
    dir.write("sessiond.env", "IBKR_SCOPE=edited\nIBKR_HTTP_TIMEOUT=9\n");
    forget_environment(sources, copied);
    EXPECT_FALSE(sources.environment.contains("IBKR_SCOPE"));
    const config_report report = load();
    ASSERT_TRUE(report.ok()) << format_config_report(report);
    EXPECT_EQ(report.values.profile.scope, "edited");
    EXPECT_EQ(report.values.options.http_timeout.count(), 7);
    EXPECT_EQ(file, *sources.env_file);
}

TEST_F(config_settings, nothing_counts_as_copied_without_a_readable_env_file) {
    EXPECT_TRUE(environment_copied_from_env_file(sources).empty());
    sources.env_file = dir.path() / "missing.env";
    EXPECT_TRUE(environment_copied_from_env_file(sources).empty());
}

TEST_F(config_settings, warns_when_an_empty_environment_variable_hides_the_env_file) {
    const fs::path file = use_env_file("IBKR_SCOPE=from-file\n");
    sources.environment["IBKR_SCOPE"] = "";
    const config_report report = load();
    EXPECT_EQ(report.values.profile.scope, "sso-sessions.write");
    EXPECT_EQ(report.warnings,
              strings{"environment: IBKR_SCOPE is set but empty and overrides " + file.string() + " line 1"});
}

TEST_F(config_settings, reports_an_unreadable_env_file_and_still_checks_the_rest) {
    sources.env_file = dir.path() / "missing.env";
    sources.environment.erase("IBKR_ENV");
    EXPECT_EQ(problems_of(load()), (strings{
                                       "--env-file: cannot read " + (dir.path() / "missing.env").string() +
                                           ": No such file or directory",
                                       "IBKR_ENV: missing",
                                   }));
    sources.env_file = dir.path();
    EXPECT_EQ(problems_of(load())[0], "--env-file: cannot read " + dir.path().string() + ": Is a directory");
}

TEST_F(config_settings, reports_an_env_file_syntax_error_with_path_and_line) {
    const fs::path file = use_env_file("IBKR_SCOPE=x\nIBKR_ENV='paper\n");
    EXPECT_EQ(problems_of(load()), strings{"--env-file: " + file.string() + ": line 2: IBKR_ENV: unterminated single quote"});
}

TEST_F(config_settings, a_variable_set_twice_in_the_env_file_warns_and_the_later_one_wins) {
    const fs::path file = use_env_file("IBKR_SCOPE=first\n\nIBKR_SCOPE=second\nIBKR_SCOPE=third\n");
    const config_report report = load();
    EXPECT_EQ(report.values.profile.scope, "third");
    EXPECT_EQ(report.warnings, (strings{
                                   file.string() + " line 3: IBKR_SCOPE set again; line 1 is ignored",
                                   file.string() + " line 4: IBKR_SCOPE set again; line 3 is ignored",
                               }));
}

TEST_F(config_settings, warns_about_unknown_variables_in_the_env_file_with_a_suggestion) {
    const fs::path file = use_env_file(
        "IBKR_TICKEL_INTERVAL=30\n"
        "IBKR_ACOUNT_ID=DU1\n"
        "SESSIOND_BACKOF_MAX=10\n"
        "ibkr_env=live\n"
        "IBKR_SOMETHING_ELSE_ENTIRELY=1\n"
        "DATABASE_URL=postgres://x\n"
        "PATH=/usr/bin\n");
    const config_report report = load();
    EXPECT_TRUE(report.ok()) << format_config_report(report);
    EXPECT_EQ(report.values.options.tickle_interval.count(), 60);
    const std::string at = file.string() + " line ";
    EXPECT_EQ(report.warnings,
              (strings{
                  at + "1: unknown variable IBKR_TICKEL_INTERVAL (ignored); did you mean IBKR_TICKLE_INTERVAL?",
                  at + "2: unknown variable IBKR_ACOUNT_ID (ignored); did you mean IBKR_ACCOUNT_ID?",
                  at + "3: unknown variable SESSIOND_BACKOF_MAX (ignored); did you mean SESSIOND_BACKOFF_MAX?",
                  at + "4: unknown variable ibkr_env (ignored); did you mean IBKR_ENV?",
                  at + "5: unknown variable IBKR_SOMETHING_ELSE_ENTIRELY (ignored)",
              }));
}

TEST_F(config_settings, warns_about_unknown_variables_in_the_environment) {
    sources.environment["IBKR_TICKEL_INTERVAL"] = "30";
    sources.environment["SESSIOND_WHATEVER_THIS_IS"] = "1";
    sources.environment["HOME"] = "/root";
    const config_report report = load();
    EXPECT_TRUE(report.ok());
    EXPECT_EQ(report.warnings, (strings{
                                   "environment: unknown variable IBKR_TICKEL_INTERVAL (ignored); did you mean "
                                   "IBKR_TICKLE_INTERVAL?",
                                   "environment: unknown variable SESSIOND_WHATEVER_THIS_IS (ignored)",
                               }));
}

TEST_F(config_settings, never_warns_about_a_known_variable) {
    for (const std::string_view name : known_variables()) sources.environment[std::string(name)] = "x";
    EXPECT_TRUE(load().warnings.empty());
}

TEST_F(config_settings, known_variables_lists_each_variable_the_daemon_reads_once) {
    const auto list = known_variables();
    const std::set<std::string_view> unique(list.begin(), list.end());
    EXPECT_EQ(unique.size(), list.size());
    for (const std::string_view name :
         {"IBKR_CLIENT_ID", "IBKR_CLIENT_KEY_ID", "IBKR_PRIVATE_KEY", "IBKR_PRIVATE_KEY_FILE", "IBKR_CREDENTIAL",
          "IBKR_ACCOUNT_ID", "IBKR_ALLOWED_IP", "IBKR_SCOPE", "IBKR_ENV", "IBKR_BASE_URL", "BROKER_PROVIDER",
          "ENABLE_MULTI_USER", "IBKR_CA_FILE", "IBKR_TICKLE_INTERVAL", "IBKR_INIT_SETTLE", "IBKR_HTTP_TIMEOUT",
          "IBKR_COMPETE", "SESSIOND_BACKOFF_INITIAL", "SESSIOND_BACKOFF_MAX", "IBKR_PACE_TICKLE",
          "IBKR_PACE_VALIDATE", "SESSIOND_SIMULATOR_LIMITS"}) {
        EXPECT_TRUE(unique.contains(name)) << name;
    }
}

TEST_F(config_settings, secret_variables_are_the_key_the_credential_and_the_api_token) {
    EXPECT_TRUE(is_secret_variable("IBKR_PRIVATE_KEY"));
    EXPECT_TRUE(is_secret_variable("IBKR_CREDENTIAL"));
    EXPECT_TRUE(is_secret_variable("SESSIOND_API_TOKEN"));
    EXPECT_FALSE(is_secret_variable("IBKR_PRIVATE_KEY_FILE"));
    EXPECT_FALSE(is_secret_variable("IBKR_CLIENT_ID"));
}

TEST_F(config_settings, sources_from_process_copies_the_environment_and_the_credentials_directory) {
    const char* saved = std::getenv("CREDENTIALS_DIRECTORY");
    const std::optional<std::string> previous = saved ? std::optional<std::string>(saved) : std::nullopt;
    ::setenv("SESSIOND_TEST_PROBE", "a=b c", 1);
    ::setenv("CREDENTIALS_DIRECTORY", "/run/credentials/ibkr-sessiond.service", 1);

    const config_sources process = sources_from_process(fs::path("/etc/ibkr-sessiond.env"));
    EXPECT_EQ(process.environment.at("SESSIOND_TEST_PROBE"), "a=b c");
    ASSERT_TRUE(process.credentials_directory && process.env_file);
    EXPECT_EQ(process.credentials_directory->string(), "/run/credentials/ibkr-sessiond.service");
    EXPECT_EQ(process.env_file->string(), "/etc/ibkr-sessiond.env");

    ::unsetenv("SESSIOND_TEST_PROBE");
    ::unsetenv("CREDENTIALS_DIRECTORY");
    EXPECT_FALSE(sources_from_process(std::nullopt).credentials_directory);
    if (previous) ::setenv("CREDENTIALS_DIRECTORY", previous->c_str(), 1);
}

// ---- the private key --------------------------------------------------------------------------

TEST_F(config_settings, loads_pkcs1_and_pkcs8_keys_from_ibkr_private_key) {
    for (const auto& [pem, format] : {std::pair{shared_rsa_key().pkcs1_pem, "PKCS#1"},
                                      std::pair{shared_rsa_key().pkcs8_pem, "PKCS#8"},
                                      std::pair{escaped_pem(shared_rsa_key().pkcs8_pem), "PKCS#8"}}) {
        SCOPED_TRACE(format);
        sources.environment["IBKR_PRIVATE_KEY"] = pem;
        const config_report report = load();
        ASSERT_TRUE(report.ok()) << format_config_report(report);
        EXPECT_EQ(report.values.profile.private_key->format(), format);
        EXPECT_EQ(report.values.profile.private_key_source, "IBKR_PRIVATE_KEY");
    }
}

TEST_F(config_settings, loads_pkcs1_and_pkcs8_keys_from_ibkr_private_key_file) {
    for (const auto& [pem, format] : {std::pair{shared_rsa_key().pkcs1_pem, "PKCS#1"},
                                      std::pair{shared_rsa_key().pkcs8_pem, "PKCS#8"}}) {
        SCOPED_TRACE(format);
        const fs::path path = use_key_file(pem);
        const config_report report = load();
        ASSERT_TRUE(report.ok()) << format_config_report(report);
        EXPECT_TRUE(report.warnings.empty());
        EXPECT_EQ(report.values.profile.private_key->format(), format);
        EXPECT_EQ(report.values.profile.private_key_source, "IBKR_PRIVATE_KEY_FILE (" + path.string() + ")");
    }
}

TEST_F(config_settings, loads_pkcs1_and_pkcs8_keys_from_the_systemd_credential) {
    for (const auto& [pem, format] : {std::pair{shared_rsa_key().pkcs1_pem, "PKCS#1"},
                                      std::pair{shared_rsa_key().pkcs8_pem, "PKCS#8"}}) {
        SCOPED_TRACE(format);
        use_credential(pem);
        const config_report report = load();
        ASSERT_TRUE(report.ok()) << format_config_report(report);
        EXPECT_EQ(report.values.profile.private_key->format(), format);
        EXPECT_EQ(report.values.profile.private_key_source, "systemd credential ibkr-private-key");
    }
}

TEST_F(config_settings, a_credentials_directory_without_the_key_is_not_a_key_source) {
    fs::create_directories(dir.path() / "credentials");
    sources.credentials_directory = dir.path() / "credentials";
    EXPECT_TRUE(load().ok());
    sources.environment.erase("IBKR_PRIVATE_KEY");
    EXPECT_EQ(problems_of(load()), strings{"IBKR_PRIVATE_KEY: " + std::string(missing_key_message)});
}

TEST_F(config_settings, reports_the_from_pem_message_for_a_bad_key_under_its_source_variable) {
    const std::string garbage = "-----BEGIN PRIVATE KEY-----\nAAAAbm90IGEga2V5\n-----END PRIVATE KEY-----\n";
    for (const std::string& pem : {testing::ec_private_key_pem(), shared_rsa_key().public_pem,
                                   testing::generate_rsa_key(1024).pkcs8_pem, garbage, std::string("hello")}) {
        const std::string expected = rsa_private_key::from_pem(pem).error().message;
        SCOPED_TRACE(expected);

        sources.environment["IBKR_PRIVATE_KEY"] = pem;
        EXPECT_EQ(problems_of(load()), strings{"IBKR_PRIVATE_KEY: " + expected});

        use_key_file(pem);
        EXPECT_EQ(problems_of(load()), strings{"IBKR_PRIVATE_KEY_FILE: " + expected});

        sources.environment.erase("IBKR_PRIVATE_KEY_FILE");
        use_credential(pem);
        EXPECT_EQ(problems_of(load()), strings{"CREDENTIALS_DIRECTORY/ibkr-private-key: " + expected});
        sources.credentials_directory.reset();
    }
}

TEST_F(config_settings, from_pem_messages_name_what_is_wrong_with_the_key) {
    // The messages come from rsa_private_key::from_pem; this pins that they say which key it is.
    sources.environment["IBKR_PRIVATE_KEY"] = testing::ec_private_key_pem();
    EXPECT_NE(problems_of(load()).at(0).find("not an RSA private key"), std::string::npos);
    sources.environment["IBKR_PRIVATE_KEY"] = shared_rsa_key().public_pem;
    EXPECT_NE(problems_of(load()).at(0).find("public key"), std::string::npos);
    sources.environment["IBKR_PRIVATE_KEY"] = testing::generate_rsa_key(1024).pkcs1_pem;
    EXPECT_NE(problems_of(load()).at(0).find("1024 bits"), std::string::npos);
}

TEST_F(config_settings, reports_a_key_set_in_two_places) {
    use_key_file(shared_rsa_key().pkcs8_pem);
    sources.environment["IBKR_PRIVATE_KEY"] = shared_rsa_key().pkcs8_pem;
    const config_report report = load();
    EXPECT_EQ(problems_of(report), strings{"IBKR_PRIVATE_KEY: set in more than one place (IBKR_PRIVATE_KEY and "
                                           "IBKR_PRIVATE_KEY_FILE); keep exactly one"});
    EXPECT_FALSE(report.values.profile.private_key);

    sources.environment.erase("IBKR_PRIVATE_KEY_FILE");
    use_credential(shared_rsa_key().pkcs8_pem);
    sources.environment["IBKR_PRIVATE_KEY"] = shared_rsa_key().pkcs8_pem;
    EXPECT_EQ(problems_of(load()), strings{"IBKR_PRIVATE_KEY: set in more than one place (IBKR_PRIVATE_KEY and "
                                           "systemd credential ibkr-private-key); keep exactly one"});
}

TEST_F(config_settings, reports_a_key_set_in_three_places) {
    use_credential(shared_rsa_key().pkcs8_pem);
    use_key_file(shared_rsa_key().pkcs8_pem);
    sources.environment["IBKR_PRIVATE_KEY"] = shared_rsa_key().pkcs8_pem;
    EXPECT_EQ(problems_of(load()),
              strings{"IBKR_PRIVATE_KEY: set in more than one place (IBKR_PRIVATE_KEY, IBKR_PRIVATE_KEY_FILE and "
                      "systemd credential ibkr-private-key); keep exactly one"});
}

TEST_F(config_settings, an_empty_key_variable_does_not_count_as_a_second_source) {
    use_key_file(shared_rsa_key().pkcs8_pem);
    sources.environment["IBKR_PRIVATE_KEY"] = "";
    EXPECT_TRUE(load().ok());
    sources.environment.erase("IBKR_PRIVATE_KEY_FILE");
    EXPECT_EQ(problems_of(load()), strings{"IBKR_PRIVATE_KEY: is empty"});
}

TEST_F(config_settings, reports_an_unreadable_key_file_or_credential) {
    sources.environment.erase("IBKR_PRIVATE_KEY");
    sources.environment["IBKR_PRIVATE_KEY_FILE"] = (dir.path() / "absent.pem").string();
    EXPECT_EQ(problems_of(load()), strings{"IBKR_PRIVATE_KEY_FILE: cannot read " + (dir.path() / "absent.pem").string() +
                                           ": No such file or directory"});

    sources.environment.erase("IBKR_PRIVATE_KEY_FILE");
    fs::create_directories(dir.path() / "credentials" / "ibkr-private-key");
    sources.credentials_directory = dir.path() / "credentials";
    EXPECT_EQ(problems_of(load()),
              strings{"CREDENTIALS_DIRECTORY/ibkr-private-key: cannot read " +
                      (dir.path() / "credentials" / "ibkr-private-key").string() + ": Is a directory"});
}

TEST_F(config_settings, refuses_a_key_file_larger_than_any_key) {
    const fs::path path = use_key_file(std::string(5 * 1024 * 1024, 'A'));
    EXPECT_EQ(problems_of(load()),
              strings{"IBKR_PRIVATE_KEY_FILE: cannot read " + path.string() + ": File too large"});
}

TEST_F(config_settings, warns_when_the_key_file_is_readable_by_other_users) {
    using fs::perms;
    const fs::path path = use_key_file(shared_rsa_key().pkcs8_pem, perms::owner_read | perms::owner_write |
                                                                       perms::group_read);
    const config_report report = load();
    EXPECT_TRUE(report.ok());
    EXPECT_EQ(report.warnings, strings{"IBKR_PRIVATE_KEY_FILE " + path.string() +
                                       " is readable by other users (mode 0640); chmod 600 it"});

    use_key_file(shared_rsa_key().pkcs8_pem, perms::owner_read | perms::owner_write | perms::group_read |
                                                 perms::others_read);
    EXPECT_EQ(load().warnings, strings{"IBKR_PRIVATE_KEY_FILE " + path.string() +
                                       " is readable by other users (mode 0644); chmod 600 it"});

    use_key_file(shared_rsa_key().pkcs8_pem, perms::owner_read);
    EXPECT_TRUE(load().warnings.empty());
}

// ---- endpoint and features --------------------------------------------------------------------

TEST_F(config_settings, accepts_base_urls_with_port_ipv6_and_trailing_slash) {
    sources.environment["IBKR_BASE_URL"] = "https://[::1]:5443/";
    const config_report report = load();
    ASSERT_TRUE(report.ok()) << format_config_report(report);
    EXPECT_EQ(report.values.options.endpoint.text, "https://[::1]:5443");
    EXPECT_EQ(report.values.options.endpoint.host, "::1");
    EXPECT_EQ(report.values.options.endpoint.port, 5443);

    sources.environment["IBKR_BASE_URL"] = "https://api.ibkr.com/";
    EXPECT_EQ(load().values.options.endpoint.text, "https://api.ibkr.com");
    EXPECT_EQ(load().values.options.endpoint.port, 443);
}

TEST_F(config_settings, rejects_base_urls_that_are_not_https_host_only) {
    EXPECT_EQ(problems_with("IBKR_BASE_URL", "http://api.ibkr.com"),
              strings{"IBKR_BASE_URL: must start with https:// (plain http would send credentials in clear)"});
    EXPECT_EQ(problems_with("IBKR_BASE_URL", "https://api.ibkr.com/v1/api"),
              strings{"IBKR_BASE_URL: must be the host only, e.g. https://api.ibkr.com; the daemon adds /oauth2, /gw "
                      "and /v1/api itself"});
    EXPECT_EQ(problems_with("IBKR_BASE_URL", "https://api.ibkr.com:0"),
              strings{"IBKR_BASE_URL: port must be between 1 and 65535"});
    EXPECT_EQ(problems_with("IBKR_BASE_URL", "https://jdoe:hunter2@api.ibkr.com"),
              strings{"IBKR_BASE_URL: must not contain a user name or password"});
    EXPECT_EQ(problems_with("IBKR_BASE_URL", "https://api.ibkr.com/?token=abc"),
              strings{"IBKR_BASE_URL: must not contain a query (?...) or fragment (#...)"});
}

TEST_F(config_settings, only_the_ibkr_broker_provider_is_supported) {
    EXPECT_EQ(problems_with("BROKER_PROVIDER", "alpaca"),
              strings{"BROKER_PROVIDER: \"alpaca\" is not supported; only ibkr"});
    EXPECT_EQ(problems_with("BROKER_PROVIDER", "IBKR"), strings{});
}

TEST_F(config_settings, multi_user_mode_reads_no_identity_and_warns_about_each_one_set) {
    sources.environment["ENABLE_MULTI_USER"] = "YES";
    sources.environment["SESSIOND_API_TOKEN"] = "an-admin-token-of-some-length";
    sources.environment["IBKR_BASE_URL"] = "https://ibkr.example:8443";
    sources.environment["IBKR_COMPETE"] = "false";
    const config_report report = load();
    EXPECT_TRUE(report.values.multi_user);
    EXPECT_EQ(problems_of(report), strings{});
    // The identity belongs to each user's credential: nothing of it is taken from here.
    EXPECT_EQ(report.values.profile.client_id, "");
    EXPECT_FALSE(report.values.profile.private_key.has_value());
    // What every user shares still is.
    EXPECT_EQ(report.values.options.endpoint.host, "ibkr.example");
    EXPECT_FALSE(report.values.options.compete);
    const std::string ignored = " is ignored in multi-user mode (ENABLE_MULTI_USER=true): each user's IBKR "
                                "credentials come from PUT /api/users/{id}/ibkr-credentials";
    EXPECT_EQ(report.warnings,
              (strings{"IBKR_CLIENT_ID" + ignored, "IBKR_CLIENT_KEY_ID" + ignored, "IBKR_PRIVATE_KEY" + ignored,
                       "IBKR_CREDENTIAL" + ignored, "IBKR_ACCOUNT_ID" + ignored, "IBKR_ALLOWED_IP" + ignored,
                       "IBKR_ENV" + ignored}));
    for (const auto& w : report.warnings) EXPECT_EQ(w.find("BEGIN"), std::string::npos) << "the key's value is never shown";
}

TEST_F(config_settings, multi_user_mode_needs_no_identity_but_the_admin_token) {
    sources.environment = {{"ENABLE_MULTI_USER", "true"}};
    config_report report = load();
    EXPECT_EQ(problems_of(report),
              strings{"SESSIOND_API_TOKEN: multi-user mode (ENABLE_MULTI_USER=true) needs the admin token that adds "
                      "and removes users: set SESSIOND_API_TOKEN (or the credential sessiond-api-token)"});
    EXPECT_FALSE(report.can_start());
    sources.environment["SESSIOND_API_TOKEN"] = "an-admin-token-of-some-length";
    report = load();
    EXPECT_EQ(problems_of(report), strings{});
    EXPECT_TRUE(report.warnings.empty());
    EXPECT_TRUE(report.can_start());
}

TEST_F(config_settings, multi_user_mode_says_the_gateway_token_is_not_used) {
    sources.environment = {{"ENABLE_MULTI_USER", "true"},
                           {"SESSIOND_API_TOKEN", "an-admin-token-of-some-length"},
                           {"SESSIOND_GATEWAY_TOKEN", "a-gateway-token-of-some-length"}};
    const config_report report = load();
    EXPECT_EQ(problems_of(report), strings{});
    EXPECT_EQ(report.warnings, strings{"SESSIOND_GATEWAY_TOKEN is ignored in multi-user mode: each user's API token "
                                       "reaches that user's session through the gateway"});
}

// check-config says who the gateway serves as the daemon does: with the gateway token ignored, not
// "clients bearing the gateway token", and not "loopback clients only".
TEST_F(config_settings, multi_user_modes_report_names_the_users_tokens_as_the_gateways_clients) {
    sources.environment = {{"ENABLE_MULTI_USER", "true"},
                           {"SESSIOND_API_TOKEN", "an-admin-token-of-some-length"},
                           {"SESSIOND_GATEWAY_TOKEN", "a-gateway-token-of-some-length"}};
    const std::string text = format_config_report(load());
    EXPECT_NE(text.find("/v1/api/, clients bearing their user's API token, a call waits"), std::string::npos) << text;
    EXPECT_EQ(text.find("gateway token"), std::string::npos) << text;
}

// check-config in multi-user mode names the database and the master key, not the single-user
// environment, account and key (found running it beside a multi-user daemon: "account: " empty).
TEST_F(config_settings, multi_user_modes_report_names_the_database_and_the_master_key_not_one_users_account) {
    sources.environment = {{"ENABLE_MULTI_USER", "true"},
                           {"SESSIOND_API_TOKEN", "an-admin-token-of-some-length"},
                           {"SESSIOND_STATE_DIR", "/var/lib/ibkr-sessiond"},
                           {"SESSIOND_MASTER_KEY_FILE", "/etc/ibkr-sessiond/master-key"}};
    std::string text = format_config_report(load());
    EXPECT_NE(text.find("  mode: multi-user (ENABLE_MULTI_USER=true)"), std::string::npos) << text;
    EXPECT_NE(text.find("  database: the SQLite file /var/lib/ibkr-sessiond/sessiond.sqlite3 (default, in the state "
                        "directory)\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("  master key: /etc/ibkr-sessiond/master-key (SESSIOND_MASTER_KEY_FILE)\n"), std::string::npos)
        << text;
    EXPECT_EQ(text.find("account:"), std::string::npos) << text;
    EXPECT_EQ(text.find("private key:"), std::string::npos) << text;

    sources.environment["SESSIOND_DATABASE"] = "postgresql://sessiond:hunter2-pw@db.internal:5433/users";
    text = format_config_report(load());
    EXPECT_NE(text.find("  database: PostgreSQL sessiond@db.internal:5433/users (SESSIOND_DATABASE)\n"), std::string::npos)
        << text;
    EXPECT_EQ(text.find("hunter2"), std::string::npos) << text;
    sources.environment["SESSIOND_DATABASE"] = "dbname=users";
    EXPECT_NE(format_config_report(load()).find("  database: PostgreSQL ?@?:?/users (SESSIOND_DATABASE)\n"),
              std::string::npos);
}

TEST_F(config_settings, enable_multi_user_is_a_boolean) {
    EXPECT_EQ(problems_with("ENABLE_MULTI_USER", "maybe"),
              strings{"ENABLE_MULTI_USER: \"maybe\" is not a boolean (true or false)"});
    EXPECT_EQ(problems_with("ENABLE_MULTI_USER", "off"), strings{});
}

TEST_F(config_settings, ibkr_compete_is_a_boolean) {
    EXPECT_EQ(problems_with("IBKR_COMPETE", "sometimes"),
              strings{"IBKR_COMPETE: \"sometimes\" is not a boolean (true or false)"});
    sources.environment["IBKR_COMPETE"] = "0";
    EXPECT_FALSE(load().values.options.compete);
}

TEST_F(config_settings, requires_the_ca_file_to_hold_a_pem_certificate) {
    const fs::path absent = dir.path() / "absent.pem";
    EXPECT_EQ(problems_with("IBKR_CA_FILE", absent.string()),
              strings{"IBKR_CA_FILE: cannot read " + absent.string() + ": No such file or directory"});

    const fs::path garbage = dir.write("garbage.pem", "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n");
    EXPECT_EQ(problems_with("IBKR_CA_FILE", garbage.string()),
              strings{"IBKR_CA_FILE: " + garbage.string() + " contains no PEM certificate"});

    const fs::path key_only = dir.write("key.pem", testing::ec_private_key_pem());
    EXPECT_EQ(problems_with("IBKR_CA_FILE", key_only.string()),
              strings{"IBKR_CA_FILE: " + key_only.string() + " contains no PEM certificate"});

    const fs::path bundle = dir.write("bundle.pem", "# comment\n" + self_signed_certificate_pem());
    EXPECT_EQ(problems_with("IBKR_CA_FILE", bundle.string()), strings{});
}

// ---- seconds ----------------------------------------------------------------------------------

TEST_F(config_settings, rejects_seconds_that_are_not_plain_decimal_numbers) {
    for (const char* text : {"abc", "-1", "1e3", "inf", "nan", "60s", " 60", "1,5"}) {
        SCOPED_TRACE(text);
        EXPECT_EQ(problems_with("IBKR_INIT_SETTLE", text),
                  strings{"IBKR_INIT_SETTLE: \"" + std::string(text) + "\" is not a number of seconds (e.g. 60 or 0.5)"});
    }
}

TEST_F(config_settings, checks_the_range_of_every_seconds_variable) {
    struct range_case {
        const char* name;
        const char* value;
        const char* message;
    };
    for (const range_case& c : {
             range_case{"IBKR_INIT_SETTLE", "60.5", "must be between 0 and 60 seconds"},
             range_case{"IBKR_HTTP_TIMEOUT", "0", "must be more than 0 and at most 120 seconds"},
             range_case{"IBKR_HTTP_TIMEOUT", "121", "must be more than 0 and at most 120 seconds"},
             range_case{"SESSIOND_BACKOFF_INITIAL", "0", "must be more than 0 and at most 3600 seconds"},
             range_case{"SESSIOND_BACKOFF_INITIAL", "3601", "must be more than 0 and at most 3600 seconds"},
             range_case{"SESSIOND_BACKOFF_MAX", "86401", "must be at most 86400 seconds"},
             range_case{"IBKR_PACE_TICKLE", "61", "must be between 0 and 60 seconds"},
             range_case{"IBKR_PACE_VALIDATE", "3600.5", "must be between 0 and 3600 seconds"},
         }) {
        SCOPED_TRACE(std::string(c.name) + "=" + c.value);
        sources.environment = valid_environment();
        EXPECT_EQ(problems_with(c.name, c.value), strings{std::string(c.name) + ": " + c.message});
    }
}

TEST_F(config_settings, accepts_the_bounds_of_every_seconds_range) {
    for (const auto& [name, value] : std::initializer_list<std::pair<const char*, const char*>>{
             {"IBKR_INIT_SETTLE", "0"},          {"IBKR_INIT_SETTLE", "60"},
             {"IBKR_HTTP_TIMEOUT", "0.001"},     {"IBKR_HTTP_TIMEOUT", "120"},
             {"SESSIOND_BACKOFF_INITIAL", "3600"}, {"SESSIOND_BACKOFF_MAX", "86400"},
             {"IBKR_PACE_TICKLE", "0"},          {"IBKR_PACE_TICKLE", "60"},
             {"IBKR_PACE_VALIDATE", "0"},        {"IBKR_PACE_VALIDATE", "3600"},
             {"IBKR_TICKLE_INTERVAL", "1"},      {"IBKR_TICKLE_INTERVAL", "290"},
         }) {
        SCOPED_TRACE(std::string(name) + "=" + value);
        sources.environment = valid_environment();
        sources.environment["SESSIOND_SIMULATOR_LIMITS"] = "true";  // a pace of 0 is looser than IBKR's
        if (std::string_view(name) == "SESSIOND_BACKOFF_INITIAL") sources.environment["SESSIOND_BACKOFF_MAX"] = "3600";
        EXPECT_EQ(problems_with(name, value), strings{});
    }
}

TEST_F(config_settings, the_tickle_interval_stays_between_the_tickle_pace_and_290_seconds) {
    EXPECT_EQ(problems_with("IBKR_TICKLE_INTERVAL", "291"),
              strings{"IBKR_TICKLE_INTERVAL: must be at most 290 s: the brokerage session lapses after about 5 minutes "
                      "without a tickle"});
    EXPECT_EQ(problems_with("IBKR_TICKLE_INTERVAL", "0.5"),
              strings{"IBKR_TICKLE_INTERVAL: must be at least IBKR_PACE_TICKLE (1 s): IBKR allows one tickle per "
                      "second"});
    sources.environment["SESSIOND_SIMULATOR_LIMITS"] = "true";
    sources.environment["IBKR_PACE_TICKLE"] = "0.25";
    EXPECT_EQ(problems_with("IBKR_TICKLE_INTERVAL", "0.1"),
              strings{"IBKR_TICKLE_INTERVAL: must be at least IBKR_PACE_TICKLE (0.25 s): IBKR allows one tickle per "
                      "second"});
    EXPECT_EQ(problems_with("IBKR_TICKLE_INTERVAL", "0.25"), strings{});
    sources.environment["IBKR_PACE_TICKLE"] = "0";
    EXPECT_EQ(problems_with("IBKR_TICKLE_INTERVAL", "0"),
              strings{"IBKR_TICKLE_INTERVAL: must be more than 0 and at most 290 seconds"});
}

TEST_F(config_settings, an_invalid_tickle_pace_is_reported_and_the_interval_checked_against_its_default) {
    sources.environment["IBKR_PACE_TICKLE"] = "fast";
    EXPECT_EQ(problems_with("IBKR_TICKLE_INTERVAL", "0.5"),
              (strings{
                  "IBKR_PACE_TICKLE: \"fast\" is not a number of seconds (e.g. 60 or 0.5)",
                  "IBKR_TICKLE_INTERVAL: must be at least IBKR_PACE_TICKLE (1 s): IBKR allows one tickle per second",
              }));
}

TEST_F(config_settings, the_backoff_maximum_is_at_least_the_initial_backoff) {
    EXPECT_EQ(problems_with("SESSIOND_BACKOFF_MAX", "1"),
              strings{"SESSIOND_BACKOFF_MAX: must be at least SESSIOND_BACKOFF_INITIAL (2 s)"});
    sources.environment["SESSIOND_BACKOFF_INITIAL"] = "10";
    EXPECT_EQ(problems_with("SESSIOND_BACKOFF_MAX", "9.5"),
              strings{"SESSIOND_BACKOFF_MAX: must be at least SESSIOND_BACKOFF_INITIAL (10 s)"});
    EXPECT_EQ(problems_with("SESSIOND_BACKOFF_MAX", "10"), strings{});
}

TEST_F(config_settings, a_large_initial_backoff_conflicts_with_the_default_maximum) {
    sources.environment["SESSIOND_BACKOFF_INITIAL"] = "600";
    EXPECT_EQ(problems_of(load()), strings{"SESSIOND_BACKOFF_MAX: must be at least SESSIOND_BACKOFF_INITIAL (600 s); "
                                           "it is not set and defaults to 300 s"});
    sources.environment["SESSIOND_BACKOFF_MAX"] = "600";
    EXPECT_TRUE(load().ok());
}

// ---- the report -------------------------------------------------------------------------------

TEST_F(config_settings, the_report_of_a_good_configuration_names_environment_account_url_and_key) {
    const fs::path path = use_key_file(shared_rsa_key().pkcs8_pem, fs::perms::owner_read | fs::perms::group_read);
    const config_report report = load();
    ASSERT_TRUE(report.ok());
    EXPECT_EQ(format_config_report(report),
              "configuration OK\n"
              "  environment: paper\n"
              "  account: DU1234567\n"
              "  base URL: https://api.ibkr.com\n"
              "  private key: RSA 2048 bits, PKCS#8, from IBKR_PRIVATE_KEY_FILE (" +
                  path.string() + "), SHA-256 fingerprint " + report.values.profile.private_key->fingerprint() +
                  "\n"
                  "  maintenance windows: IBKR_REGION=new_york: daily reset 01:00 America/New_York, weekly "
                  "maintenance Saturday 17:00 to Sunday 02:00\n"
                  "  API: http://127.0.0.1:4257, no API token: POST /api/ibkr/test answers 403\n"
                  "  gateway: on at http://127.0.0.1:4257/v1/api/, loopback clients only, a call waits at most 7 s\n"
                  "  state directory: none\n"  // no HOME here, and use_state_directory() has not run
                  "warning: IBKR_PRIVATE_KEY_FILE " +
                  path.string() + " is readable by other users (mode 0440); chmod 600 it\n");
    EXPECT_EQ(report.values.profile.private_key->fingerprint().size(), 64u);
}

TEST_F(config_settings, the_report_of_a_bad_configuration_lists_problems_then_warnings) {
    sources.environment.erase("IBKR_CLIENT_ID");
    sources.environment["IBKR_ENV"] = "demo";
    sources.environment["IBKR_TICKEL_INTERVAL"] = "30";
    EXPECT_EQ(format_config_report(load()),
              "configuration has 2 problem(s):\n"
              "  IBKR_CLIENT_ID: missing\n"
              "  IBKR_ENV: \"demo\" must be paper or live\n"
              "warning: environment: unknown variable IBKR_TICKEL_INTERVAL (ignored); did you mean "
              "IBKR_TICKLE_INTERVAL?\n");
}

TEST_F(config_settings, no_secret_appears_in_the_report_problems_or_warnings) {
    const std::string pem = shared_rsa_key().pkcs8_pem;
    const std::string one_line = escaped_pem(pem);
    const std::string credential = "jdoe-Zq7xK2pW";

    sources.environment = {
        {"IBKR_PRIVATE_KEY", pem},
        {"IBKR_CREDENTIAL", credential + " "},  // a problem of its own
        {"IBKR_CLIENT_ID", one_line},
        {"IBKR_CLIENT_KEY_ID", pem},
        {"IBKR_ACCOUNT_ID", credential},
        {"IBKR_ALLOWED_IP", one_line},
        {"IBKR_ENV", credential},
        {"IBKR_SCOPE", one_line},
        {"IBKR_BASE_URL", "https://jdoe:" + credential + "@api.ibkr.com/?" + one_line},
        {"BROKER_PROVIDER", credential},
        {"ENABLE_MULTI_USER", one_line},
        {"IBKR_COMPETE", credential.substr(0, 8)},
        {"IBKR_INIT_SETTLE", one_line},
        {"IBKR_HTTP_TIMEOUT", credential},
        {"IBKR_PACE_VALIDATE", "-----BEGIN RSA PRIVATE KEY-----"},
        {"SESSIOND_API_TOKEN", "tok-8f3a9c1d2e"},
        {"IBKR_PRIVATE_KEYY", pem},
    };
    use_key_file(pem, fs::perms::owner_read | fs::perms::others_read);
    use_credential(pem);
    sources.environment["IBKR_PRIVATE_KEY"] = pem;  // the helpers took it out: now set in three places
    use_env_file("IBKR_PRIVATE_KEY=\"" + one_line + "\"\nIBKR_PRIVATE_KEY=\"" + one_line +
                 "\"\nIBKR_CREDENTIAL=" + credential + "\nIBKR_ACOUNT_ID=" + credential + "\nIBKR_PRIVATE_KEY_FIEL=\"" +
                 one_line + "\"\n");

    const config_report report = load();
    const std::string text = format_config_report(report);
    ASSERT_GE(report.problems.size(), 12u) << text;
    ASSERT_FALSE(report.warnings.empty()) << text;

    // Every window of 12 characters of the key's base64, of the credential and of the token.
    strings needles = {credential.substr(0, 8), credential.substr(5), "tok-8f3a9c1d2e", "BEGIN", "PRIVATE KEY-"};
    for (std::size_t at = pem.find('\n') + 1; at + 12 < pem.rfind("-----END"); at += 6) {
        const std::string window = pem.substr(at, 12);
        if (window.find('\n') == std::string::npos) needles.push_back(window);
    }
    strings texts = {text};
    for (const config_problem& p : report.problems) texts.push_back(p.variable + " " + p.message);
    for (const std::string& w : report.warnings) texts.push_back(w);
    for (const std::string& t : texts) {
        for (const std::string& needle : needles) EXPECT_EQ(t.find(needle), std::string::npos) << needle << " in " << t;
        EXPECT_FALSE(contains_secret_material(t)) << t;
    }
}

}  // namespace
}  // namespace sessiond

namespace sessiond {
namespace {

// ---- the daemon's own API (SESSIOND_LISTEN, SESSIOND_API_TOKEN) --------------------------------

TEST_F(config_settings, listens_on_loopback_port_4257_without_a_token_by_default) {
    const auto report = load();
    ASSERT_TRUE(report.ok()) << ::testing::PrintToString(problems_of(report));
    EXPECT_EQ(to_string(report.values.service.listen), "127.0.0.1:4257");
    EXPECT_FALSE(report.values.service.api_token);
    EXPECT_TRUE(report.can_start());
}

TEST_F(config_settings, reads_the_listen_address_including_ipv6_and_port_zero) {
    sources.environment["SESSIOND_LISTEN"] = "[::1]:0";
    const auto report = load();
    ASSERT_TRUE(report.ok());
    EXPECT_EQ(report.values.service.listen.host, "::1");
    EXPECT_EQ(report.values.service.listen.port, 0);
}

TEST_F(config_settings, a_malformed_listen_address_blocks_start) {
    EXPECT_EQ(problems_with("SESSIOND_LISTEN", "localhost"),
              strings{"SESSIOND_LISTEN: \"localhost\" is not HOST:PORT (IPv6 as [::1]:PORT)"});
    EXPECT_EQ(problems_with("SESSIOND_LISTEN", "127.0.0.1:99999"),
              strings{"SESSIOND_LISTEN: \"127.0.0.1:99999\" has no valid port number (0-65535)"});
    EXPECT_EQ(problems_with("SESSIOND_LISTEN", "example.com:80"),
              strings{"SESSIOND_LISTEN: \"example.com:80\" has a host that is not an IP address or localhost"});
    EXPECT_FALSE(load().can_start());
}

TEST_F(config_settings, listening_beyond_loopback_without_a_token_blocks_start) {
    sources.environment["SESSIOND_LISTEN"] = "0.0.0.0:4257";
    sources.environment["SESSIOND_GATEWAY"] = "off";
    const auto report = load();
    EXPECT_EQ(problems_of(report),
              strings{"SESSIOND_LISTEN: 0.0.0.0:4257 is reachable from other hosts but no API token is set; set "
                      "SESSIOND_API_TOKEN (or the credential sessiond-api-token), or listen on 127.0.0.1"});
    EXPECT_FALSE(report.can_start());
    sources.environment["SESSIOND_API_TOKEN"] = "0123456789abcdef0123456789abcdef";
    EXPECT_TRUE(load().ok());
}

TEST_F(config_settings, ibkr_problems_do_not_block_start) {
    sources.environment.erase("IBKR_CLIENT_ID");
    const auto report = load();
    EXPECT_FALSE(report.ok());
    EXPECT_TRUE(report.can_start());
}

TEST_F(config_settings, reads_the_api_token_from_the_environment_or_the_credential) {
    sources.environment["SESSIOND_API_TOKEN"] = "0123456789abcdef0123";
    auto report = load();
    ASSERT_TRUE(report.values.service.api_token);
    EXPECT_EQ(report.values.service.api_token->reveal(), "0123456789abcdef0123");
    EXPECT_EQ(report.values.service.api_token_source, "SESSIOND_API_TOKEN");

    sources.environment.erase("SESSIOND_API_TOKEN");
    dir.write("credentials/sessiond-api-token", "fedcba9876543210fedcba\n");
    sources.credentials_directory = dir.path() / "credentials";
    report = load();
    ASSERT_TRUE(report.values.service.api_token);
    EXPECT_EQ(report.values.service.api_token->reveal(), "fedcba9876543210fedcba") << "the trailing newline is not part of it";
    EXPECT_EQ(report.values.service.api_token_source, "systemd credential sessiond-api-token");
}

// The unit's SetCredential= fallbacks (a lone line break) while the operator has not added the key
// and the token files: neither is set, the key is reported missing, and a key or token given
// another way is not "set in more than one place".
TEST_F(config_settings, a_blank_credential_is_one_not_set) {
    sources.credentials_directory = dir.path() / "credentials";
    for (const std::string_view blank : {"\n", "", "\r\n"}) {
        dir.write("credentials/sessiond-api-token", blank);
        dir.write("credentials/sessiond-gateway-token", blank);
        dir.write("credentials/ibkr-private-key", blank);
        auto report = load();
        EXPECT_FALSE(report.values.service.api_token);
        EXPECT_FALSE(report.values.gateway.token);
        EXPECT_TRUE(report.ok()) << (problems_of(report).empty() ? "" : problems_of(report).front());

        const std::string key = sources.environment["IBKR_PRIVATE_KEY"];
        sources.environment.erase("IBKR_PRIVATE_KEY");
        report = load();
        EXPECT_EQ(problems_of(report), strings{"IBKR_PRIVATE_KEY: missing (set IBKR_PRIVATE_KEY, IBKR_PRIVATE_KEY_FILE "
                                               "or the systemd credential ibkr-private-key)"});
        EXPECT_TRUE(report.can_start()) << "up and not configured, as a fresh install started before its key";
        sources.environment["IBKR_PRIVATE_KEY"] = key;

        sources.environment["SESSIOND_API_TOKEN"] = "0123456789abcdef0123";
        report = load();
        ASSERT_TRUE(report.values.service.api_token);
        EXPECT_EQ(report.values.service.api_token_source, "SESSIOND_API_TOKEN");
        sources.environment.erase("SESSIOND_API_TOKEN");
    }
    dir.write("credentials/sessiond-api-token", " \n");
    EXPECT_EQ(problems_of(load()),
              strings{"SESSIOND_API_TOKEN: must not contain spaces or control characters"})
        << "blank means no character but line breaks";
}

TEST_F(config_settings, refuses_a_short_or_blank_or_doubly_set_api_token_without_quoting_it) {
    EXPECT_EQ(problems_with("SESSIOND_API_TOKEN", "short-token"),
              strings{"SESSIOND_API_TOKEN: is too short (11 characters); use at least 16 random characters, e.g. "
                      "openssl rand -hex 32"});
    EXPECT_EQ(problems_with("SESSIOND_API_TOKEN", "0123456789abcdef 0123"),
              strings{"SESSIOND_API_TOKEN: must not contain spaces or control characters"});
    sources.environment["SESSIOND_API_TOKEN"] = "0123456789abcdef0123";
    dir.write("credentials/sessiond-api-token", "fedcba9876543210fedcba");
    sources.credentials_directory = dir.path() / "credentials";
    const auto report = load();
    EXPECT_EQ(problems_of(report),
              strings{"SESSIOND_API_TOKEN: set in more than one place (SESSIOND_API_TOKEN and systemd credential "
                      "sessiond-api-token); keep exactly one"});
    EXPECT_FALSE(report.can_start());
    for (const auto& p : report.problems) EXPECT_EQ(p.message.find("0123456789abcdef"), std::string::npos);
}

// ---- the gateway (SESSIOND_GATEWAY*) ------------------------------------------------------------

TEST_F(config_settings, the_gateway_is_on_for_loopback_clients_by_default) {
    const auto report = load();
    ASSERT_TRUE(report.ok()) << problems_of(report).front();
    const gateway_options& gw = report.values.gateway;
    EXPECT_TRUE(gw.enabled);
    EXPECT_FALSE(gw.token);
    EXPECT_EQ(gw.max_wait, std::chrono::milliseconds(7'000));
    EXPECT_FALSE(gw.https_listen);
    EXPECT_FALSE(gw.tls_cert);
}

TEST_F(config_settings, reads_every_gateway_variable) {
    sources.environment["SESSIOND_GATEWAY"] = "off";
    sources.environment["SESSIOND_GATEWAY_MAX_WAIT"] = "2.5";
    sources.environment["SESSIOND_GATEWAY_HTTPS_LISTEN"] = "127.0.0.1:5000";
    sources.environment["SESSIOND_GATEWAY_TLS_CERT"] = "/etc/gw/cert.pem";
    sources.environment["SESSIOND_GATEWAY_TLS_KEY"] = "/etc/gw/key.pem";
    dir.write("credentials/sessiond-gateway-token", "gw-0123456789abcdef\n");
    sources.credentials_directory = dir.path() / "credentials";
    const auto report = load();
    ASSERT_TRUE(report.ok()) << problems_of(report).front();
    const gateway_options& gw = report.values.gateway;
    EXPECT_FALSE(gw.enabled);
    EXPECT_EQ(gw.max_wait, std::chrono::milliseconds(2'500));
    ASSERT_TRUE(gw.https_listen);
    EXPECT_EQ(gw.https_listen->port, 5000);
    EXPECT_EQ(*gw.tls_cert, "/etc/gw/cert.pem");
    EXPECT_EQ(*gw.tls_key, "/etc/gw/key.pem");
    ASSERT_TRUE(gw.token);
    EXPECT_EQ(gw.token->reveal(), "gw-0123456789abcdef");
    EXPECT_EQ(gw.token_source, "systemd credential sessiond-gateway-token");
}

TEST_F(config_settings, the_gateway_refuses_to_listen_beyond_loopback_without_its_token) {
    sources.environment["SESSIOND_LISTEN"] = "0.0.0.0:4257";
    sources.environment["SESSIOND_API_TOKEN"] = "0123456789abcdef0123456789abcdef";
    auto report = load();
    EXPECT_EQ(problems_of(report),
              strings{"SESSIOND_LISTEN: 0.0.0.0:4257 is reachable from other hosts and the gateway can place orders, "
                      "but no gateway token is set; set SESSIOND_GATEWAY_TOKEN (or the credential "
                      "sessiond-gateway-token), listen on loopback, or set SESSIOND_GATEWAY=off"});
    EXPECT_FALSE(report.can_start());
    sources.environment["SESSIOND_GATEWAY_TOKEN"] = "fedcba9876543210fedcba";
    EXPECT_TRUE(load().ok());
    sources.environment.erase("SESSIOND_GATEWAY_TOKEN");
    sources.environment["SESSIOND_LISTEN"] = "127.0.0.1:4257";
    sources.environment["SESSIOND_GATEWAY_HTTPS_LISTEN"] = "[::]:5000";
    report = load();
    ASSERT_EQ(report.problems.size(), 1u);
    EXPECT_EQ(report.problems.front().variable, "SESSIOND_GATEWAY_HTTPS_LISTEN");
}

// Multi-user mode's gateway serves only requests bearing a user's API token: a pod listening on
// 0.0.0.0 needs no gateway token (which that mode ignores) to start.
TEST_F(config_settings, in_multi_user_mode_the_gateway_beyond_loopback_needs_no_gateway_token) {
    sources.environment["ENABLE_MULTI_USER"] = "true";
    sources.environment["SESSIOND_LISTEN"] = "0.0.0.0:4257";
    sources.environment["SESSIOND_API_TOKEN"] = "0123456789abcdef0123456789abcdef";
    const auto report = load();
    for (const auto& p : report.problems) EXPECT_NE(p.variable, "SESSIOND_LISTEN") << p.message;
    EXPECT_TRUE(report.can_start());
}

TEST_F(config_settings, refuses_gateway_settings_a_client_could_not_live_with) {
    EXPECT_EQ(problems_with("SESSIOND_GATEWAY_MAX_WAIT", "12"),
              strings{"SESSIOND_GATEWAY_MAX_WAIT: must be between 0 and 9 seconds: a client's usual timeout is 10 s, "
                      "and a request held past it may be sent again by the client"});
    sources.environment.erase("SESSIOND_GATEWAY_MAX_WAIT");
    EXPECT_EQ(problems_with("SESSIOND_GATEWAY_TOKEN", "short"),
              strings{"SESSIOND_GATEWAY_TOKEN: is too short (5 characters); use at least 16 random characters, e.g. "
                      "openssl rand -hex 32"});
    sources.environment.erase("SESSIOND_GATEWAY_TOKEN");
    EXPECT_EQ(problems_with("SESSIOND_GATEWAY_TLS_CERT", "/etc/gw/cert.pem"),
              strings{"SESSIOND_GATEWAY_TLS_KEY: missing: SESSIOND_GATEWAY_TLS_CERT and SESSIOND_GATEWAY_TLS_KEY go "
                      "together"});
    sources.environment.erase("SESSIOND_GATEWAY_TLS_CERT");
    EXPECT_EQ(problems_with("SESSIOND_GATEWAY", "maybe"),
              strings{"SESSIOND_GATEWAY: \"maybe\" is not a boolean (true or false)"});
    EXPECT_TRUE(is_secret_variable("SESSIOND_GATEWAY_TOKEN"));
}

// ---- limits towards IBKR: login budget, request rate, 429 penalty -----------------------------

TEST_F(config_settings, the_login_budget_request_rate_and_penalty_default_to_ibkr_safe_values) {
    const session_options o = load().values.options;
    EXPECT_EQ(o.login_min_interval.count(), 10.0);
    EXPECT_EQ(o.logins_per_hour, 30);
    EXPECT_EQ(o.max_requests_per_second, 10);
    EXPECT_EQ(o.rate_limit_penalty.count(), 900.0);
}

TEST_F(config_settings, reads_the_login_budget_request_rate_and_penalty) {
    sources.environment["SESSIOND_LOGIN_MIN_INTERVAL"] = "30";
    sources.environment["SESSIOND_LOGINS_PER_HOUR"] = "12";
    sources.environment["IBKR_MAX_REQUESTS_PER_SECOND"] = "50";
    sources.environment["SESSIOND_RATE_LIMIT_PENALTY"] = "600";
    sources.environment["SESSIOND_SIMULATOR_LIMITS"] = "true";  // 50 requests a second is above IBKR's 10
    const config_report report = load();
    ASSERT_TRUE(report.ok()) << format_config_report(report);
    EXPECT_EQ(report.values.options.login_min_interval.count(), 30.0);
    EXPECT_EQ(report.values.options.logins_per_hour, 12);
    EXPECT_EQ(report.values.options.max_requests_per_second, 50);
    EXPECT_EQ(report.values.options.rate_limit_penalty.count(), 600.0);
}

// ---- limits looser than IBKR's: only with SESSIOND_SIMULATOR_LIMITS=true ---------------------------

struct looser_limit {
    const char* variable;
    const char* value;
    const char* message;  // after "VARIABLE: "
};

constexpr looser_limit looser_limits[] = {
    {"IBKR_PACE_TICKLE", "0.5", "0.5 s is looser than IBKR's limit of one tickle per second (1 s)"},
    {"IBKR_PACE_VALIDATE", "0", "0 s is looser than IBKR's limit of one validate per minute (60 s)"},
    {"IBKR_PACE_VALIDATE", "59", "59 s is looser than IBKR's limit of one validate per minute (60 s)"},
    {"IBKR_MAX_REQUESTS_PER_SECOND", "11", "11 is looser than IBKR's documented global limit of 10 requests per second"},
    {"IBKR_MAX_REQUESTS_PER_SECOND", "0", "0 is looser than IBKR's documented global limit of 10 requests per second"},
    {"SESSIOND_LOGIN_MIN_INTERVAL", "0",
     "0 s is looser than the login budget's 10 s between logins, which protects the IBKR account"},
    {"SESSIOND_LOGINS_PER_HOUR", "31",
     "31 is looser than the login budget's 30 logins an hour, which protects the IBKR account"},
    {"SESSIOND_RATE_LIMIT_PENALTY", "599",
     "599 s is looser than IBKR's penalty box after a 429, 10 to 15 minutes (600 s at least)"},
};

TEST_F(config_settings, each_limit_looser_than_ibkrs_blocks_start_naming_variable_value_and_limit) {
    for (const looser_limit& c : looser_limits) {
        SCOPED_TRACE(std::string(c.variable) + "=" + c.value);
        sources.environment = valid_environment();
        sources.environment[c.variable] = c.value;
        const config_report report = load();
        EXPECT_EQ(problems_of(report), strings{std::string(c.variable) + ": " + c.message +
                                               "; SESSIOND_SIMULATOR_LIMITS=true allows it, for ibkr-sim only"});
        EXPECT_FALSE(report.can_start()) << "the daemon must refuse to start (exit 78), not sit in not_configured";
        EXPECT_NE(format_config_report(report).find(c.variable), std::string::npos);
    }
}

TEST_F(config_settings, the_simulator_switch_allows_each_looser_limit_with_a_warning) {
    for (const looser_limit& c : looser_limits) {
        SCOPED_TRACE(std::string(c.variable) + "=" + c.value);
        sources.environment = valid_environment();
        sources.environment["SESSIOND_SIMULATOR_LIMITS"] = "true";
        sources.environment[c.variable] = c.value;
        const config_report report = load();
        EXPECT_TRUE(report.ok()) << format_config_report(report);
        EXPECT_TRUE(report.values.simulator_limits);
        ASSERT_EQ(report.warnings.size(), 1u);
        EXPECT_EQ(report.warnings.front().find("SESSIOND_SIMULATOR_LIMITS=true: simulator limits are in force"), 0u)
            << report.warnings.front();
        EXPECT_NE(report.warnings.front().find(std::string(c.variable) + "="), std::string::npos)
            << report.warnings.front();
        EXPECT_NE(report.warnings.front().find("for ibkr-sim only, never against IBKR"), std::string::npos);
    }
}

TEST_F(config_settings, the_base_url_does_not_decide_whether_looser_limits_are_allowed) {
    sources.environment["IBKR_BASE_URL"] = "https://127.0.0.1:8443";
    EXPECT_EQ(problems_with("IBKR_PACE_VALIDATE", "1"),
              strings{"IBKR_PACE_VALIDATE: 1 s is looser than IBKR's limit of one validate per minute (60 s); "
                      "SESSIOND_SIMULATOR_LIMITS=true allows it, for ibkr-sim only"});
}

TEST_F(config_settings, ibkrs_limits_themselves_and_the_production_defaults_need_no_switch) {
    const config_report defaults = load();
    EXPECT_TRUE(defaults.ok()) << format_config_report(defaults);
    EXPECT_TRUE(defaults.warnings.empty());
    EXPECT_FALSE(defaults.values.simulator_limits);
    sources.environment.insert({{"IBKR_PACE_TICKLE", "1"},
                                {"IBKR_PACE_VALIDATE", "60"},
                                {"IBKR_MAX_REQUESTS_PER_SECOND", "10"},
                                {"SESSIOND_LOGIN_MIN_INTERVAL", "10"},
                                {"SESSIOND_LOGINS_PER_HOUR", "30"},
                                {"SESSIOND_RATE_LIMIT_PENALTY", "600"}});
    const config_report at_the_limits = load();
    EXPECT_TRUE(at_the_limits.ok()) << format_config_report(at_the_limits);
    EXPECT_TRUE(at_the_limits.warnings.empty());
}

TEST_F(config_settings, the_simulator_switch_alone_warns_and_a_malformed_one_blocks_start) {
    sources.environment["SESSIOND_SIMULATOR_LIMITS"] = "true";
    const config_report on = load();
    ASSERT_TRUE(on.ok()) << format_config_report(on);
    EXPECT_EQ(on.warnings, strings{"SESSIOND_SIMULATOR_LIMITS=true: simulator limits are in force: pacing looser "
                                   "than IBKR's documented limits is allowed; for ibkr-sim only, never against IBKR"});
    sources.environment["SESSIOND_SIMULATOR_LIMITS"] = "false";
    EXPECT_EQ(problems_with("IBKR_PACE_TICKLE", "0").size(), 1u);
    const config_report malformed = [&] {
        sources.environment = valid_environment();
        sources.environment["SESSIOND_SIMULATOR_LIMITS"] = "sim";
        return load();
    }();
    EXPECT_EQ(problems_of(malformed).size(), 1u);
    EXPECT_EQ(problems_of(malformed).front().find("SESSIOND_SIMULATOR_LIMITS: \"sim\""), 0u) << problems_of(malformed).front();
    EXPECT_FALSE(malformed.can_start());
}

TEST_F(config_settings, counts_are_whole_numbers_within_their_range) {
    for (const char* text : {"0", "1001", "-1", "1.5", "ten", " 5"}) {
        SCOPED_TRACE(text);
        sources.environment = valid_environment();
        EXPECT_EQ(problems_with("SESSIOND_LOGINS_PER_HOUR", text),
                  strings{"SESSIOND_LOGINS_PER_HOUR: \"" + std::string(text) + "\" is not a whole number from 1 to 1000"});
    }
    for (const char* text : {"-1", "51"}) {
        SCOPED_TRACE(text);
        sources.environment = valid_environment();
        EXPECT_EQ(problems_with("IBKR_MAX_REQUESTS_PER_SECOND", text),
                  strings{"IBKR_MAX_REQUESTS_PER_SECOND: \"" + std::string(text) + "\" is not a whole number from 0 to 50"});
    }
    sources.environment = valid_environment();
    EXPECT_EQ(problems_with("SESSIOND_RATE_LIMIT_PENALTY", "0"),
              strings{"SESSIOND_RATE_LIMIT_PENALTY: must be more than 0 and at most 86400 seconds"});
}

TEST_F(config_settings, the_state_directory_candidates_follow_sessiond_state_dir_then_systemd_then_the_defaults) {
    sources.environment["HOME"] = "/home/op";
    sources.environment["STATE_DIRECTORY"] = "/var/lib/ibkr-sessiond:/var/lib/other";
    sources.environment["SESSIOND_STATE_DIR"] = "/srv/sessiond";
    const config_report report = load();
    EXPECT_FALSE(report.values.service.state_dir) << "loading touches no directory";
    EXPECT_EQ(report.values.service.state_dirs.candidates,
              (std::vector<state_dir_candidate>{{"/srv/sessiond", "SESSIOND_STATE_DIR"},
                                                {"/var/lib/ibkr-sessiond", "$STATE_DIRECTORY, from systemd's StateDirectory="},
                                                {"/home/op/.local/state/ibkr-sessiond", "default: $HOME/.local/state"}}));
    EXPECT_EQ(problems_with("SESSIOND_STATE_DIR", "relative/dir"),
              strings{"SESSIOND_STATE_DIR: \"relative/dir\" is not an absolute path"});
}

TEST_F(config_settings, sessiond_state_dir_from_the_env_file_counts_as_configured) {
    use_env_file("SESSIOND_STATE_DIR=/srv/from-file\n");
    const auto& candidates = load().values.service.state_dirs.candidates;
    ASSERT_FALSE(candidates.empty());
    EXPECT_EQ(candidates.front(), (state_dir_candidate{"/srv/from-file", "SESSIOND_STATE_DIR"}));
}

TEST_F(config_settings, use_state_directory_creates_the_first_usable_candidate_and_says_which_rule_chose_it) {
    sources.environment["HOME"] = (dir.path() / "home").string();
    config_report report = load();
    use_state_directory(report);
    const fs::path expected = dir.path() / "home" / ".local" / "state" / "ibkr-sessiond";
    EXPECT_EQ(report.values.service.state_dir, expected);
    EXPECT_EQ(report.values.service.state_dir_rule, "default: $HOME/.local/state");
    EXPECT_TRUE(fs::is_directory(expected));
    EXPECT_NE(format_config_report(report).find("state directory " + expected.string() + " (default: $HOME/.local/state)"),
              std::string::npos)
        << format_config_report(report);
}

TEST_F(config_settings, without_a_usable_state_directory_the_report_says_what_was_tried_and_why) {
    const fs::path file = dir.write("not-a-directory", "x");
    sources.environment["SESSIOND_STATE_DIR"] = (file / "state").string();
    config_report report = load();
    use_state_directory(report);
    EXPECT_FALSE(report.values.service.state_dir);
    const std::string& why = report.values.service.state_dir_unavailable;
    EXPECT_NE(why.find("SESSIOND_STATE_DIR: cannot create " + (file / "state").string()), std::string::npos) << why;
    EXPECT_NE(why.find("HOME: not set"), std::string::npos) << why;
    EXPECT_NE(format_config_report(report).find("warning: no usable state directory"), std::string::npos)
        << format_config_report(report);
}

// ---- IBKR's calendar ---------------------------------------------------------------------------

TEST_F(config_settings, the_calendar_defaults_to_new_york_with_the_reset_at_one_in_the_morning) {
    const auto report = load();
    ASSERT_TRUE(report.values.options.calendar);
    EXPECT_EQ(report.values.options.calendar->region(), ibkr_region::new_york);
    EXPECT_EQ(report.values.options.calendar->zone().name(), "America/New_York");
    EXPECT_EQ(report.values.options.calendar->reset_time(), std::chrono::hours(1));
}

TEST_F(config_settings, reads_the_region_and_reset_time) {
    sources.environment["IBKR_REGION"] = "Hong_Kong";
    sources.environment["IBKR_RESET_TIME"] = "00:30:15";
    const auto report = load();
    ASSERT_TRUE(report.ok()) << format_config_report(report);
    ASSERT_TRUE(report.values.options.calendar);
    EXPECT_EQ(report.values.options.calendar->region(), ibkr_region::hong_kong);
    EXPECT_EQ(report.values.options.calendar->zone().name(), "Asia/Hong_Kong");
    EXPECT_EQ(report.values.options.calendar->reset_time(), std::chrono::seconds(30 * 60 + 15));
    sources.environment["IBKR_REGION"] = "zug";
    EXPECT_EQ(load().values.options.calendar->zone().name(), "Europe/Zurich");
}

TEST_F(config_settings, region_none_turns_the_calendar_off) {
    sources.environment["IBKR_REGION"] = "none";
    const auto report = load();
    ASSERT_TRUE(report.ok());
    EXPECT_FALSE(report.values.options.calendar);
    EXPECT_NE(format_config_report(report).find("maintenance windows: none"), std::string::npos);
}

TEST_F(config_settings, rejects_an_unknown_region_or_a_malformed_reset_time) {
    EXPECT_EQ(problems_with("IBKR_REGION", "london"),
              strings{"IBKR_REGION: \"london\" is not new_york, zug, hong_kong or none"});
    sources.environment = valid_environment();
    for (const char* text : {"1:00", "24:00", "01:60", "01:00:60", "0100", "01:00 ", "01-00"}) {
        SCOPED_TRACE(text);
        EXPECT_EQ(problems_with("IBKR_RESET_TIME", text),
                  strings{"IBKR_RESET_TIME: \"" + std::string(text) +
                          "\" is not a time of day (HH:MM or HH:MM:SS, e.g. 01:00)"});
    }
}

TEST_F(config_settings, a_missing_time_zone_database_is_a_warning_and_no_calendar) {
    sources.environment["TZDIR"] = (dir.path() / "no-zoneinfo").string();
    const auto report = load();
    ASSERT_TRUE(report.ok()) << format_config_report(report);
    EXPECT_FALSE(report.values.options.calendar);
    ASSERT_EQ(report.warnings.size(), 1u);
    EXPECT_NE(report.warnings.front().find("IBKR_REGION=new_york: cannot read "), std::string::npos) << report.warnings.front();
    EXPECT_NE(report.warnings.front().find("failures in them count as ordinary failures"), std::string::npos);
}

TEST_F(config_settings, the_report_says_where_the_api_listens_and_whether_it_has_a_token) {
    auto text = format_config_report(load());
    EXPECT_NE(text.find("  API: http://127.0.0.1:4257, no API token: POST /api/ibkr/test answers 403"), std::string::npos)
        << text;
    sources.environment["SESSIOND_API_TOKEN"] = "0123456789abcdef0123";
    text = format_config_report(load());
    EXPECT_NE(text.find("POST /api/ibkr/test enabled (token from SESSIOND_API_TOKEN)"), std::string::npos) << text;
    EXPECT_EQ(text.find("0123456789abcdef0123"), std::string::npos);
}

}  // namespace
}  // namespace sessiond
