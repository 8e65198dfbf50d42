// The fuzz targets' stored inputs, replayed through the same harnesses in the normal test suite: every
// input that once broke a parser (fuzz/regressions/<target>/) and every seed (fuzz/corpus/<target>/)
// must keep the invariants the fuzzer checks. See fuzz/README.md.

#include "../../fuzz/harness/credential_record.hpp"
#include "../../fuzz/harness/credential_request.hpp"
#include "../../fuzz/harness/env_file.hpp"
#include "../../fuzz/harness/http_request.hpp"
#include "../../fuzz/harness/ibkr_responses.hpp"
#include "../../fuzz/harness/pem_key.hpp"
#include "../../fuzz/harness/settings.hpp"
#include "../../fuzz/harness/state_files.hpp"
#include "support/test_keys.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

namespace sessiond {
namespace {

namespace fs = std::filesystem;

const fs::path fuzz_dir = fs::path(SESSIOND_SOURCE_DIR) / "fuzz";

std::vector<fs::path> inputs_in(const fs::path& dir) {
    std::vector<fs::path> out;
    if (!fs::is_directory(dir)) return out;
    for (const auto& entry : fs::directory_iterator(dir))
        if (entry.is_regular_file()) out.push_back(entry.path());
    std::ranges::sort(out);
    return out;
}

std::string contents(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The findings whose inputs are key-shaped (a damaged PEM BEGIN line, alone and inside an env file)
// are made here from the build's generated test key, not stored: no key, not even a fragment of
// one, is committed outside tests/. fuzz/run.sh seeds the fuzzer with the same damage.
std::string first_base64_line() {
    const std::string& pem = testing::shared_rsa_key().pkcs1_pem;
    const auto start = pem.find('\n') + 1;
    return pem.substr(start, pem.find('\n', start) - start);
}

std::string begin_line_without_closing_dashes() {
    return "-----BEGIN RSA PRIVATE KEY\n" + first_base64_line() + "\n-----END RSA PRIVATE KEY-----\n";
}

std::vector<std::string> generated_inputs(std::string_view target) {
    const std::string line = first_base64_line();
    if (target == "pem_key") {
        return {begin_line_without_closing_dashes(),
                // the T of PRIVATE with its high bit set, and escaped line breaks
                "-----BEGIN RSA PRIVA\xd4" "E KEY-----\\n" + line.substr(0, 17) + "\\n-----END RSA PRIVATE KEY-----"};
    }
    if (target == "settings")
        return {"IBKR_PRIVATE_KEY=\"-----BEGIN RSA PRIVATE KEY\\n" + line.substr(0, 48) + "\\n-----END RSA PRIVATE KEY-----\"\n"};
    if (target == "credential_request") {
        // A complete body with this build's key (the profile's side), and the key in the wrong field.
        std::string pem = testing::shared_rsa_key().pkcs8_pem;
        std::string escaped;
        for (const char c : pem) escaped += c == '\n' ? std::string("\\n") : std::string(1, c);
        const std::string fields = R"("client_id":"acme","client_key_id":"main","credential":"alice",)"
                                   R"("allowed_ip":"203.0.113.7","environment":"paper",)";
        return {"{" + fields + R"("account_id":"DU1234567","private_key":")" + escaped + "\"}",
                "{" + fields + R"("private_key":"x","account_id":")" + escaped + "\"}"};
    }
    return {};
}

// Runs the harness on every stored and generated input of the target; returns how many there were.
template <class Harness>
std::size_t replay(std::string_view target, Harness harness) {
    std::size_t count = 0;
    for (const std::string& input : generated_inputs(target)) {
        SCOPED_TRACE("generated input " + std::to_string(count + 1) + " of " + std::string(target));
        EXPECT_EQ(harness(input), "");
        ++count;
    }
    for (const char* kind : {"regressions", "corpus"}) {
        for (const fs::path& file : inputs_in(fuzz_dir / kind / target)) {
            SCOPED_TRACE(file.string());
            EXPECT_EQ(harness(contents(file)), "");
            ++count;
        }
    }
    return count;
}

TEST(fuzz_regressions, the_stored_inputs_are_where_the_test_looks) {
    EXPECT_TRUE(fs::is_directory(fuzz_dir / "corpus")) << fuzz_dir;
}

TEST(fuzz_regressions, env_file_inputs_parse_or_fail_cleanly_and_round_trip) {
    EXPECT_GT(replay("env_file", fuzz::env_file), 0u);
}

TEST(fuzz_regressions, settings_inputs_never_put_a_secret_in_the_report) {
    EXPECT_GT(replay("settings", fuzz::settings_env), 0u);
}

TEST(fuzz_regressions, pem_inputs_are_refused_with_one_printable_line_or_load) {
    EXPECT_GT(replay("pem_key", fuzz::pem_key), 0u);
}

TEST(fuzz_regressions, ibkr_response_inputs_stay_bounded_printable_and_redacted) {
    EXPECT_GT(replay("ibkr_responses", fuzz::ibkr_responses), 0u);
}

TEST(fuzz_regressions, http_request_inputs_get_well_formed_answers) {
    EXPECT_GT(replay("http_request", fuzz::http_request), 0u);
}

TEST(fuzz_regressions, pacing_records_are_refused_with_one_line_or_read_within_their_promises) {
    EXPECT_GT(replay("pacing_record", fuzz::pacing_record), 0u);
}

TEST(fuzz_regressions, tzif_inputs_are_refused_with_one_line_or_give_sane_offsets) {
    EXPECT_GT(replay("tzif", fuzz::tzif), 0u);
}

TEST(fuzz_regressions, credential_records_are_refused_with_one_line_or_open_and_rewrap_intact) {
    EXPECT_GT(replay("credential_record", fuzz::credential_record), 0u);
}

TEST(fuzz_regressions, credential_request_bodies_give_a_profile_or_named_one_line_problems) {
    EXPECT_GT(replay("credential_request", fuzz::credential_request), 0u);
}

// The findings themselves, stated as behaviour, so that a reader need not decode the stored files.

TEST(fuzz_regressions, a_begin_line_without_closing_dashes_does_not_quote_the_key) {
    const auto key = rsa_private_key::from_pem(begin_line_without_closing_dashes());
    ASSERT_FALSE(key);
    EXPECT_EQ(key.error().message, "not a PEM private key (its BEGIN line is damaged)");
}

TEST(fuzz_regressions, a_bearer_token_after_a_control_byte_is_redacted) {
    EXPECT_EQ(printable_remote_text("rejected Bearer\tsso-bearer-echoed-1234"), "rejected Bearer [redacted]");
}

TEST(fuzz_regressions, retry_after_dates_far_from_now_are_bounded_without_overflow) {
    const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(784111777));
    EXPECT_EQ(parse_retry_after("Sun, 06 Nov 199 02:51:07 GMT", now), std::chrono::seconds(0));
    EXPECT_EQ(parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now), std::chrono::seconds(86400));
}

}  // namespace
}  // namespace sessiond
