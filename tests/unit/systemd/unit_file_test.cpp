// systemd/ibkr-sessiond.service, checked by systemd's own tools: `systemd-analyze verify` must have
// nothing to say about it, and `systemd-analyze security --offline=true` must rate it 2.0 or lower.
// Both run on the unit file alone (no systemd needs to be running), with ExecStart pointing at the
// binary this build produced, since verify checks that it exists and is executable.

#include "support/subprocess.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace sessiond {
namespace {

using namespace std::chrono_literals;
using testing::output_stream;
using testing::subprocess;
using testing::subprocess_options;

constexpr auto patience = 120s;  // systemd-analyze security --offline loads a lot; a bound, not an assertion
constexpr std::string_view installed_exec_start = "ExecStart=/usr/bin/ibkr-sessiond ";

// From the source tree, not __FILE__: a compiler launcher (ccache's base_dir) may make that relative.
std::filesystem::path source_unit() {
    return std::filesystem::path(SESSIOND_SOURCE_DIR) / "systemd" / "ibkr-sessiond.service";
}

std::string read_text(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

std::optional<std::filesystem::path> find_program(std::string_view name) {
    const char* path = std::getenv("PATH");
    std::string dirs = path ? path : "";
    dirs += ":/usr/bin:/bin";
    std::istringstream list(dirs);
    for (std::string dir; std::getline(list, dir, ':');) {
        if (dir.empty()) continue;
        const auto candidate = std::filesystem::path(dir) / name;
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return std::nullopt;
}

struct run_result {
    int exit_code = -1;
    std::string out;
    std::string err;
};

run_result run(std::vector<std::string> argv) {
    subprocess_options options;
    options.argv = std::move(argv);
    // Plain text whatever the terminal: no colours, no pager.
    options.environment["SYSTEMD_COLORS"] = "0";
    options.environment["SYSTEMD_PAGER"] = "";
    options.environment["SYSTEMD_LOG_COLOR"] = "0";
    subprocess child(std::move(options));
    run_result r;
    const auto code = child.wait_exit(patience);
    EXPECT_TRUE(code.has_value()) << "systemd-analyze did not finish\n" << child.all_output();
    // Wait for both pipes to close, so that the whole output is in.
    child.wait_until(output_stream::out, [](std::string_view) { return false; }, patience);
    child.wait_until(output_stream::err, [](std::string_view) { return false; }, patience);
    r.exit_code = code.value_or(-1);
    r.out = child.output(output_stream::out);
    r.err = child.output(output_stream::err);
    return r;
}

// The unit as installed, but starting the binary of this build, in a temp dir.
class unit_file : public ::testing::Test {
protected:
    void SetUp() override {
        analyze_ = find_program("systemd-analyze");
        if (!analyze_) GTEST_SKIP() << "systemd-analyze is not installed (Debian package systemd)";
        text_ = read_text(source_unit());
        ASSERT_FALSE(text_.empty()) << "cannot read " << source_unit();
        const auto at = text_.find(installed_exec_start);
        ASSERT_NE(at, std::string::npos) << "the unit must start /usr/bin/ibkr-sessiond";
        std::string local = text_;
        local.replace(at, installed_exec_start.size(), "ExecStart=" + std::string(IBKR_SESSIOND_PATH) + " ");
        unit_ = dir_.write("ibkr-sessiond.service", local);
    }

    testing::temp_dir dir_;
    std::optional<std::filesystem::path> analyze_;
    std::string text_;
    std::filesystem::path unit_;
};

TEST_F(unit_file, systemd_analyze_verify_has_nothing_to_say) {
    const run_result r = run({analyze_->string(), "verify", "--man=no", unit_.string()});
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, "");
}

TEST_F(unit_file, verify_would_notice_a_mistake) {
    // The test above proves something only if verify looks at this file: a typo must show.
    std::string broken = read_text(unit_);
    broken.replace(broken.find("NotifyAccess=main"), std::string("NotifyAccess=main").size(), "NotifyAccess=mian");
    const auto path = dir_.write("broken/ibkr-sessiond.service", broken);
    const run_result r = run({analyze_->string(), "verify", "--man=no", path.string()});
    EXPECT_NE(r.err.find("notify access specifier"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("mian"), std::string::npos) << r.err;
}

TEST_F(unit_file, systemd_analyze_security_rates_it_2_or_lower) {
    const run_result r = run({analyze_->string(), "security", "--offline=true", unit_.string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");

    const std::regex overall(R"(Overall exposure level for ibkr-sessiond\.service: ([0-9]+\.[0-9]+))");
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.out, m, overall)) << r.out;
    const double exposure = std::stod(m[1].str());
    EXPECT_LE(exposure, 2.0) << r.out;

    // What is not OK, for the record (and for whoever tightens the unit next).
    std::string not_ok;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);)
        if (line.starts_with("\xE2\x9C\x97")) not_ok += line + "\n";  // U+2717 BALLOT X
    std::cout << "exposure " << exposure << "; not OK:\n" << not_ok;
    RecordProperty("exposure", std::to_string(exposure));
}

// The settings the daemon relies on, whatever else changes in the sandbox.
TEST_F(unit_file, declares_what_the_daemon_relies_on) {
    std::multimap<std::string, std::string> settings;
    std::istringstream lines(text_);
    for (std::string line; std::getline(lines, line);) {
        if (line.empty() || line[0] == '#' || line[0] == '[') continue;
        const auto eq = line.find('=');
        if (eq != std::string::npos) settings.emplace(line.substr(0, eq), line.substr(eq + 1));
    }
    auto value = [&](const std::string& key) {
        const auto it = settings.find(key);
        return it == settings.end() ? std::string("<unset>") : it->second;
    };
    auto values = [&](const std::string& key) {
        std::vector<std::string> out;
        for (auto [it, end] = settings.equal_range(key); it != end; ++it) out.push_back(it->second);
        return out;
    };
    EXPECT_EQ(value("Type"), "notify");
    EXPECT_EQ(value("NotifyAccess"), "main");
    EXPECT_EQ(value("WatchdogSec"), "30s");
    EXPECT_EQ(value("Restart"), "on-failure");
    EXPECT_EQ(value("RestartPreventExitStatus"), "78") << "a refused configuration is not restarted in a loop";
    EXPECT_EQ(value("ExecReload"), "/bin/kill -HUP $MAINPID");
    EXPECT_EQ(value("TimeoutStopSec"), "10s");  // above the 5 s logout budget
    EXPECT_EQ(values("LoadCredential"),
              (std::vector<std::string>{"ibkr-private-key:/etc/ibkr-sessiond/private-key.pem",
                                        "sessiond-api-token:/etc/ibkr-sessiond/api-token"}));
    // The fallbacks that keep a missing file from failing the start.
    EXPECT_EQ(values("SetCredential"),
              (std::vector<std::string>{"ibkr-private-key:\\n", "sessiond-api-token:\\n"}));
    EXPECT_EQ(value("EnvironmentFile"), "-/etc/ibkr-sessiond/ibkr-sessiond.env");
    EXPECT_EQ(value("DynamicUser"), "yes");
    EXPECT_EQ(value("StateDirectory"), "ibkr-sessiond");
    EXPECT_EQ(value("ProtectSystem"), "strict");
    EXPECT_EQ(value("CapabilityBoundingSet"), "");
    EXPECT_EQ(value("MemoryDenyWriteExecute"), "yes");
    EXPECT_EQ(value("RestrictAddressFamilies"), "AF_INET AF_INET6 AF_UNIX");
    // setpriority and sched_setscheduler back from @resources: the worker thread lowers its own priority (core/background_worker).
    EXPECT_EQ(values("SystemCallFilter"),
              (std::vector<std::string>{"@system-service", "~@privileged @resources", "setpriority sched_setscheduler"}));
    EXPECT_NE(text_.find("ExecStart=/usr/bin/ibkr-sessiond run --env-file /etc/ibkr-sessiond/ibkr-sessiond.env"),
              std::string::npos);
}

}  // namespace
}  // namespace sessiond
