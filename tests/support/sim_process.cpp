#include "support/sim_process.hpp"

#include "support/sanitizers.hpp"

#include "support/test_keys.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

#include <csignal>
#include <sstream>
#include <stdexcept>

namespace sessiond::testing {

namespace {

constexpr std::chrono::seconds ready_timeout{15};
constexpr std::chrono::seconds control_timeout{10};

std::string seconds_text(double s) {
    std::ostringstream out;
    out << s;
    return out.str();
}

// The exit code once the process has exited and its reader threads took its last lines: the exit
// can be seen before the pipes are drained.
std::optional<int> wait_exit_and_output(subprocess& p, std::chrono::milliseconds timeout) {
    const auto code = p.wait_exit(timeout);
    if (code) p.wait_until(output_stream::err, [](std::string_view) { return false; }, std::chrono::seconds(5));
    return code;
}

[[noreturn]] void fail_start(const std::string& why, const subprocess* p) {
    const std::string text = "ibkr-sim did not start: " + why + (p ? "\n" + p->all_output() : std::string());
    ADD_FAILURE() << text;
    throw std::runtime_error(text);
}

}  // namespace

sim_process::sim_process(sim_options options) : options_(std::move(options)) {
    public_key_file_ = dir_.write("client-public.pem", options_.public_key_pem.empty() ? shared_rsa_key().public_pem
                                                                                       : options_.public_key_pem);
    start(std::nullopt);
}

sim_process::~sim_process() = default;

void sim_process::start(std::optional<std::uint16_t> https_port) {
    std::vector<std::string> argv{IBKR_SIM_PATH,
                                  "--listen",
                                  "127.0.0.1:" + std::to_string(https_port.value_or(0)),
                                  "--control",
                                  "127.0.0.1:0",
                                  "--tls-dir",
                                  (dir_.path() / "tls").string(),
                                  "--ca-out",
                                  (dir_.path() / "ca.pem").string(),
                                  "--log-level",
                                  options_.log_level};
    if (options_.users_file) {
        argv.insert(argv.end(), {"--users", *options_.users_file});
    } else {
        argv.insert(argv.end(), {"--client-public-key", public_key_file_.string(), "--client-id", options_.client_id,
                                 "--client-key-id", options_.key_id, "--credential", options_.credential,
                                 "--allowed-ip", options_.allowed_ip, "--login-type", options_.login_type, "--scope",
                                 options_.scope});
        for (const auto& account : options_.accounts) {
            argv.emplace_back("--account");
            argv.push_back(account);
        }
    }
    const std::pair<const char*, const std::optional<double>*> durations[] = {
        {"--token-lifetime", &options_.token_lifetime},
        {"--sso-lifetime", &options_.sso_lifetime},
        {"--sso-max-life", &options_.sso_max_life},
        {"--brokerage-idle-timeout", &options_.brokerage_idle_timeout},
        {"--tickle-min-interval", &options_.tickle_min_interval},
        {"--validate-min-interval", &options_.validate_min_interval},
        {"--clock-skew", &options_.clock_skew},
        {"--max-assertion-life", &options_.max_assertion_life},
        {"--penalty-box", &options_.penalty_box},
        {"--history-delay", &options_.history_delay},
        {"--ws-heartbeat", &options_.ws_heartbeat},
        {"--ws-market-data-interval", &options_.ws_market_data_interval},
        {"--ws-idle-timeout", &options_.ws_idle_timeout},
    };
    for (const auto& [flag, value] : durations) {
        if (!value->has_value()) continue;
        argv.emplace_back(flag);
        argv.push_back(seconds_text(**value));
    }
    if (options_.max_requests_per_second) {
        argv.emplace_back("--max-requests-per-second");
        argv.push_back(std::to_string(*options_.max_requests_per_second));
    }
    if (options_.ws_send_queue) {
        argv.emplace_back("--ws-send-queue");
        argv.push_back(std::to_string(*options_.ws_send_queue));
    }
    if (!options_.endpoint_limits) argv.emplace_back("--no-endpoint-limits");
    if (!options_.validate_extends) argv.emplace_back("--no-validate-extends");
    if (options_.tickle_extends) argv.emplace_back("--tickle-extends");
    if (options_.cert_host) {
        argv.emplace_back("--cert-host");
        argv.push_back(*options_.cert_host);
    }
    argv.insert(argv.end(), options_.extra_args.begin(), options_.extra_args.end());

    subprocess_options spawn;
    spawn.argv = std::move(argv);
    process_ = std::make_unique<subprocess>(std::move(spawn));
    const auto line = process_->wait_for_line(
        output_stream::out, [](std::string_view l) { return l.find("\"ready\":true") != std::string_view::npos; },
        patience(ready_timeout));
    if (!line) fail_start("no ready line within " + std::to_string(patience(ready_timeout).count()) + " s", process_.get());
    boost::system::error_code ec;
    const boost::json::value ready = boost::json::parse(*line, ec);
    if (ec || !ready.is_object()) fail_start("the ready line is not JSON: " + *line, process_.get());
    const auto& o = ready.as_object();
    https_port_ = static_cast<std::uint16_t>(o.at("https_port").to_number<std::uint64_t>());
    control_port_ = static_cast<std::uint16_t>(o.at("control_port").to_number<std::uint64_t>());
    ca_file_ = std::string(o.at("ca_file").as_string());
}

std::string sim_process::base_url() const { return "https://127.0.0.1:" + std::to_string(https_port_); }

std::unique_ptr<http_client> sim_process::https_client(std::string server_name) const {
    return std::make_unique<http_client>("127.0.0.1", https_port_, tls_client_settings{ca_file_, std::move(server_name)});
}

std::unique_ptr<http_client> sim_process::control_client() const {
    return std::make_unique<http_client>("127.0.0.1", control_port_);
}

boost::json::object sim_process::control_post(std::string_view target, const boost::json::value* body) {
    http_request_options options;
    options.timeout = control_timeout;
    auto client = control_client();
    auto res = body != nullptr ? client->post_json(target, *body, options) : client->post(target, {}, options);
    if (!res) {
        ADD_FAILURE() << "control " << target << ": " << res.error().message;
        return {};
    }
    if (res->status != 200) ADD_FAILURE() << "control " << target << " -> " << res->status << " " << res->body;
    const auto json = res->json();
    return json.is_object() ? json.as_object() : boost::json::object{};
}

void sim_process::fault(const boost::json::value& spec) { control_post("/control/fault", &spec); }
void sim_process::clear_faults() { control_post("/control/clear-faults", nullptr); }
void sim_process::expire_sessions() { control_post("/control/expire-sessions", nullptr); }
void sim_process::drop_brokerage() { control_post("/control/drop-brokerage", nullptr); }
void sim_process::reset_stats() { control_post("/control/reset-stats", nullptr); }

void sim_process::set_competing(bool on) {
    const boost::json::value body = boost::json::object{{"on", on}};
    control_post("/control/competing", &body);
}

void sim_process::set_maintenance(bool on, std::optional<std::chrono::milliseconds> duration) {
    boost::json::object body{{"on", on}};
    if (duration) body["duration_ms"] = duration->count();
    const boost::json::value value = std::move(body);
    control_post("/control/maintenance", &value);
}

void sim_process::nightly_reset(std::chrono::milliseconds maintenance) {
    const boost::json::value body = boost::json::object{{"duration_ms", maintenance.count()}};
    control_post("/control/nightly-reset", &body);
}

boost::json::object sim_process::control_get(std::string_view target) {
    http_request_options options;
    options.timeout = control_timeout;
    auto res = control_client()->get(target, options);
    if (!res || res->status != 200 || !res->json().is_object()) {
        ADD_FAILURE() << "control " << target << " failed: " << (res ? res->body : res.error().message);
        return {};
    }
    return res->json().as_object();
}

boost::json::object sim_process::state() { return control_get("/control/state"); }

boost::json::array sim_process::order_bodies() {
    const auto answer = control_get("/control/orders");
    const auto* orders = answer.if_contains("orders");
    return orders != nullptr && orders->is_array() ? orders->as_array() : boost::json::array{};
}

boost::json::object sim_process::overlaps() { return control_get("/control/overlaps"); }

boost::json::array sim_process::websockets() {
    const auto answer = control_get("/control/ws");
    const auto* sockets = answer.if_contains("websockets");
    return sockets != nullptr && sockets->is_array() ? sockets->as_array() : boost::json::array{};
}

std::uint64_t sim_process::drop_websockets() {
    const auto answer = control_post("/control/ws/drop", nullptr);
    const auto* dropped = answer.if_contains("dropped");
    return dropped != nullptr && dropped->is_number() ? dropped->to_number<std::uint64_t>() : 0;
}

std::vector<std::string> sim_process::issued_tokens() {
    std::vector<std::string> out;
    if (!running()) return out;
    const auto body = control_get("/control/issued-tokens");
    if (const auto* tokens = body.if_contains("tokens"); tokens != nullptr && tokens->is_array())
        for (const auto& t : tokens->as_array()) out.emplace_back(t.as_string());
    return out;
}

boost::json::object sim_process::events(std::uint64_t since) {
    return control_get("/control/events?since=" + std::to_string(since));
}

bool sim_process::await_calls(std::string_view path, std::uint64_t count, std::chrono::milliseconds timeout,
                              std::optional<unsigned> status) {
    timeout = patience(timeout);
    std::string target = "/control/await?path=" + std::string(path) + "&count=" + std::to_string(count) +
                         "&timeout_ms=" + std::to_string(timeout.count());
    if (status) target += "&status=" + std::to_string(*status);
    http_request_options options;
    options.timeout = timeout + control_timeout;  // the server answers 408 at `timeout`
    auto res = control_client()->get(target, options);
    if (!res) {
        ADD_FAILURE() << "control " << target << ": " << res.error().message;
        return false;
    }
    if (res->status != 200 && res->status != 408) ADD_FAILURE() << "control " << target << " -> " << res->status << " " << res->body;
    return res->status == 200;
}

std::optional<int> sim_process::stop(std::chrono::milliseconds timeout) {
    process_->send_signal(SIGTERM);
    return wait_exit_and_output(*process_, timeout);
}

void sim_process::kill9() {
    process_->send_signal(SIGKILL);
    wait_exit_and_output(*process_, std::chrono::seconds(10));
}

void sim_process::restart() {
    if (process_->running()) {
        process_->send_signal(SIGTERM);
        if (!wait_exit_and_output(*process_, std::chrono::seconds(10))) kill9();
    }
    earlier_output_ += process_->output(output_stream::err);
    start(https_port_);
}

bool sim_process::running() const { return process_ && process_->running(); }

std::string sim_process::output() const { return earlier_output_ + process_->output(output_stream::err); }

}  // namespace sessiond::testing
