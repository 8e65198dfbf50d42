#include "support/daemon_process.hpp"

#include "support/test_keys.hpp"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <csignal>
#include <cstdlib>
#include <random>
#include <stdexcept>

namespace sessiond::testing {

namespace {

std::size_t occurrences(std::string_view text, std::string_view needle) {
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string_view::npos; at = text.find(needle, at + needle.size())) ++n;
    return n;
}

// The daemon gets exactly these variables: nothing from the developer's shell leaks in, except what
// the sanitizers need to report.
environment_overrides base_environment() {
    environment_overrides env;
    for (const char* name : {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TSAN_OPTIONS", "PATH"}) {
        if (const char* v = std::getenv(name)) env[name] = v;
    }
    return env;
}

// SESSIOND_TEST_DAEMON_WRAPPER="valgrind --leak-check=full ...": the daemon runs under that command
// (tests/valgrind.sh). Split at blanks; empty or unset: the daemon runs as itself.
std::vector<std::string> daemon_command_prefix() {
    std::vector<std::string> out;
    const char* wrapper = std::getenv("SESSIOND_TEST_DAEMON_WRAPPER");
    if (wrapper == nullptr) return out;
    std::string word;
    for (const char* c = wrapper;; ++c) {
        if (*c == ' ' || *c == '\0') {
            if (!word.empty()) out.push_back(std::move(word));
            word.clear();
            if (*c == '\0') break;
        } else {
            word += *c;
        }
    }
    return out;
}

void drain(subprocess& p) {
    for (const auto stream : {output_stream::out, output_stream::err})
        p.wait_until(stream, [](std::string_view) { return false; }, std::chrono::seconds(5));
}

}  // namespace

environment_overrides daemon_environment(const sim_process& sim, const std::filesystem::path& key_file) {
    environment_overrides env = base_environment();
    const sim_options& o = sim.options();
    env["IBKR_CLIENT_ID"] = o.client_id;
    env["IBKR_CLIENT_KEY_ID"] = o.key_id;
    env["IBKR_PRIVATE_KEY_FILE"] = key_file.string();
    env["IBKR_CREDENTIAL"] = o.credential;
    env["IBKR_ACCOUNT_ID"] = o.accounts.empty() ? "DU1234567" : o.accounts.front();
    env["IBKR_ALLOWED_IP"] = o.allowed_ip;
    env["IBKR_ENV"] = o.login_type;
    env["IBKR_BASE_URL"] = sim.base_url();
    env["IBKR_CA_FILE"] = sim.ca_file().string();
    env["IBKR_TICKLE_INTERVAL"] = "1";
    env["IBKR_INIT_SETTLE"] = "0";
    env["IBKR_HTTP_TIMEOUT"] = "2";
    env["SESSIOND_BACKOFF_INITIAL"] = "0.2";
    env["SESSIOND_BACKOFF_MAX"] = "1";
    env["IBKR_PACE_TICKLE"] = "1";
    env["IBKR_PACE_VALIDATE"] = o.validate_min_interval ? std::to_string(*o.validate_min_interval) : "60";
    env["SESSIOND_LISTEN"] = "127.0.0.1:0";  // the log says which port: api_port()
    // The login budget has its own tests; elsewhere it stays out of the way of test-speed timings.
    env["SESSIOND_LOGIN_MIN_INTERVAL"] = "0";
    env["SESSIOND_LOGINS_PER_HOUR"] = "1000";
    env["SESSIOND_DAEMON_LOGIN_INTERVAL"] = "0";
    // Whatever the day of the week CI runs on: a test that needs IBKR's calendar sets its own.
    env["IBKR_REGION"] = "none";
    // The pacing above (no login spacing, the simulator's validate pace) is looser than IBKR's.
    env["SESSIOND_SIMULATOR_LIMITS"] = "true";
    return env;
}

std::string canary_api_token() {
    static std::mt19937_64 random(std::random_device{}());
    return fmt::format("canary-api-token-{:016x}{:08x}", random(), random() & 0xffffffffu);
}

daemon_process::daemon_process(const sim_process& sim, daemon_options options)
    : key_pem_(options.private_key_pem.empty() ? shared_rsa_key().pkcs8_pem : options.private_key_pem) {
    const auto key_file = dir_.write("private-key.pem", key_pem_);
    environment_overrides env = daemon_environment(sim, key_file);
    // The default state directory ($HOME/.local/state/ibkr-sessiond) inside this test's directory,
    // never in the machine's real home; a test may name its own HOME or SESSIOND_STATE_DIR.
    env["HOME"] = dir_.path().string();
    if (!options.api_token.empty()) env["SESSIOND_API_TOKEN"] = options.api_token;
    for (auto& [name, value] : options.environment) env[name] = value;
    if (const auto it = env.find("SESSIOND_API_TOKEN"); it != env.end() && it->second) api_token_ = *it->second;
    subprocess_options p;
    p.argv = daemon_command_prefix();
    p.argv.push_back(IBKR_SESSIOND_PATH);
    for (auto& a : options.args) p.argv.push_back(a);
    p.inherit_environment = false;
    p.environment = std::move(env);
    p.working_directory = dir_.path();
    process_ = std::make_unique<subprocess>(std::move(p));
}

daemon_process::~daemon_process() {
    if (process_ && process_->running()) {
        process_->send_signal(SIGTERM);
        if (!process_->wait_exit(std::chrono::seconds(10))) process_->send_signal(SIGKILL);
    }
}

bool daemon_process::wait_for_log(std::string_view text, std::size_t count, std::chrono::milliseconds timeout) {
    const std::string needle(text);
    return process_->wait_until(output_stream::err,
                                [&](std::string_view all) { return occurrences(all, needle) >= count; }, timeout);
}

std::size_t daemon_process::count_in_log(std::string_view text) const { return occurrences(log(), text); }

std::optional<int> daemon_process::stop(std::chrono::milliseconds timeout) {
    process_->send_signal(SIGTERM);
    return wait_exit(timeout);
}

std::optional<int> daemon_process::wait_exit(std::chrono::milliseconds timeout) {
    const auto code = process_->wait_exit(timeout);
    // The exit can be seen before the reader threads took the last lines: wait until both pipes closed.
    if (code) drain(*process_);
    return code;
}

std::optional<std::uint16_t> daemon_process::api_port(std::chrono::milliseconds timeout) {
    // Tests ask from several threads at once (clients bursting in parallel): one finds it, all read it.
    std::lock_guard guard(api_port_lock_);
    if (api_port_) return api_port_;
    constexpr std::string_view marker = "API listening on http://";
    if (!wait_for_log(marker, 1, timeout)) return std::nullopt;
    const std::string text = log();
    const auto line_start = text.find(marker) + marker.size();
    const auto line_end = text.find_first_of(" \n", line_start);
    const std::string host_port = text.substr(line_start, line_end - line_start);
    const auto colon = host_port.rfind(':');
    if (colon == std::string::npos) return std::nullopt;
    const unsigned long port = std::stoul(host_port.substr(colon + 1));
    if (port == 0 || port > 65535) return std::nullopt;
    api_port_ = static_cast<std::uint16_t>(port);
    return api_port_;
}

http_client daemon_process::api() {
    const auto port = api_port();
    if (!port) throw std::runtime_error("the daemon never said where its API listens:\n" + output());
    http_client client("127.0.0.1", *port);
    client.on_response([log = responses_](const http_result& r) {
        std::string entry = std::to_string(r.status) + "\n";
        for (const auto& [name, value] : r.headers) entry.append(name).append(": ").append(value).append("\n");
        entry.append(r.body).append("\n");
        std::lock_guard guard(log->lock);
        log->text += entry;
    });
    return client;
}

std::string daemon_process::responses() const {
    std::lock_guard guard(responses_->lock);
    return responses_->text;
}

std::string daemon_process::output() const { return process_->all_output(); }
std::string daemon_process::log() const { return process_->output(output_stream::err); }

command_result run_sessiond(const environment_overrides& environment, std::vector<std::string> args,
                            std::chrono::milliseconds timeout) {
    subprocess_options p;
    p.argv.push_back(IBKR_SESSIOND_PATH);
    for (auto& a : args) p.argv.push_back(std::move(a));
    p.inherit_environment = false;
    p.environment = base_environment();
    for (const auto& [name, value] : environment) p.environment[name] = value;
    subprocess child(std::move(p));
    command_result r;
    r.exit_code = child.wait_exit(timeout);
    if (r.exit_code) drain(child);
    r.out = child.output(output_stream::out);
    r.err = child.output(output_stream::err);
    return r;
}

std::size_t find_jwt_shape(std::string_view text) {
    // A JWT starts with a base64url JSON header ("{\"" encodes as "eyJ") that ends at the first dot.
    // "eyJ" alone is not enough: a random base64url token (a user's API token, shown once when it is
    // issued) contains those three letters about once in 6,000 tokens.
    const auto base64url = [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    };
    for (auto at = text.find("eyJ"); at != std::string_view::npos; at = text.find("eyJ", at + 1)) {
        auto end = at + 3;
        while (end < text.size() && base64url(text[end])) ++end;
        if (end < text.size() && text[end] == '.') return at;
    }
    return std::string_view::npos;
}

void expect_no_secrets(std::string_view text, std::string_view private_key_pem, const std::vector<std::string>& tokens,
                       std::string_view what) {
    std::size_t start = 0;
    while (start < private_key_pem.size()) {
        auto end = private_key_pem.find('\n', start);
        if (end == std::string_view::npos) end = private_key_pem.size();
        const std::string_view line = private_key_pem.substr(start, end - start);
        // Every base64 line of the key (not the BEGIN/END markers) must be absent.
        if (line.size() >= 16 && !line.starts_with("-----")) {
            EXPECT_EQ(text.find(line), std::string_view::npos) << what << " contains a line of the private key";
        }
        start = end + 1;
    }
    for (const auto& t : tokens) {
        if (t.size() >= 8) {
            EXPECT_EQ(text.find(t), std::string_view::npos) << what << " contains an issued token";
        }
    }
    EXPECT_EQ(find_jwt_shape(text), std::string_view::npos) << what << " contains something shaped like a JWT";
    EXPECT_EQ(text.find("-----BEGIN"), std::string_view::npos) << what << " contains a PEM block";
}

}  // namespace sessiond::testing
