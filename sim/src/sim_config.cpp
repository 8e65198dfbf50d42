#include "ibkr_sim/sim_config.hpp"

#include "sessiond/core/text_file.hpp"
#include "ibkr_sim/rsa_public_key.hpp"

#include "sessiond/config/env_file.hpp"
#include "sessiond/crypto/rsa_key.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/json/parse.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <functional>
#include <map>

namespace sessiond::sim {

namespace {

// The identity settings the daemon's env file can supply; a flag given on the command line wins.
struct identity_flags {
    std::optional<std::string> client_id;
    std::optional<std::string> key_id;
    std::optional<std::string> public_key_pem;
    std::optional<std::string> credential;
    std::optional<std::string> allowed_ip;
    std::vector<std::string> accounts;
    std::optional<login_type> login;
    std::optional<std::string> scope;
};

bool equals_ignoring_case(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

expected<login_type> parse_login_type(std::string_view text) {
    if (equals_ignoring_case(text, "paper")) return login_type::paper;
    if (equals_ignoring_case(text, "live")) return login_type::live;
    return make_error("must be paper or live");
}

// "text" in quotes. (Built by appending: GCC 12 at -O3 warns falsely (-Wrestrict) on
// "literal" + std::string temporaries.)
std::string quoted(std::string_view text) {
    std::string out;
    out.reserve(text.size() + 2);
    out += '"';
    out += text;
    out += '"';
    return out;
}

expected<std::string> checked_ip(std::string_view text) {
    boost::system::error_code ec;
    boost::asio::ip::make_address(std::string(text), ec);
    if (ec) return make_error(quoted(text) + " is not an IP address");
    return std::string(text);
}

expected<std::string> public_key_from_private_pem(std::string_view pem) {
    auto key = rsa_private_key::from_pem(pem);
    if (!key) return key.error();
    return key->public_key_pem();
}

// Fills what the flags left open from the daemon's env file.
expected<void> apply_env_file(const std::string& path, identity_flags& id) {
    auto text = read_text_file(path);
    if (!text) return text.error();
    auto entries = parse_env_file(*text);
    wipe(*text);
    if (!entries) return entries.error();
    std::map<std::string, std::string_view> env;
    for (const auto& e : entries->items) env[e.name] = e.value;
    auto take = [&](const char* name, std::optional<std::string>& into) {
        if (const auto it = env.find(name); it != env.end() && !into && !it->second.empty()) into = std::string(it->second);
    };
    take("IBKR_CLIENT_ID", id.client_id);
    take("IBKR_CLIENT_KEY_ID", id.key_id);
    take("IBKR_CREDENTIAL", id.credential);
    take("IBKR_SCOPE", id.scope);
    if (const auto it = env.find("IBKR_ALLOWED_IP"); it != env.end() && !id.allowed_ip) {
        auto ip = checked_ip(it->second);
        if (!ip) return make_error("IBKR_ALLOWED_IP: " + ip.error().message);
        id.allowed_ip = *ip;
    }
    if (const auto it = env.find("IBKR_ACCOUNT_ID"); it != env.end() && id.accounts.empty() && !it->second.empty())
        id.accounts.emplace_back(it->second);
    if (const auto it = env.find("IBKR_ENV"); it != env.end() && !id.login) {
        auto login = parse_login_type(it->second);
        if (!login) return make_error("IBKR_ENV: " + login.error().message);
        id.login = *login;
    }
    if (!id.public_key_pem) {
        const auto inline_pem = env.find("IBKR_PRIVATE_KEY");
        const auto key_file = env.find("IBKR_PRIVATE_KEY_FILE");
        if (inline_pem != env.end() && !inline_pem->second.empty()) {
            auto pem = public_key_from_private_pem(inline_pem->second);
            if (!pem) return make_error("IBKR_PRIVATE_KEY: " + pem.error().message);
            id.public_key_pem = std::move(*pem);
        } else if (key_file != env.end() && !key_file->second.empty()) {
            auto file = read_text_file(std::string(key_file->second));
            if (!file) return make_error("IBKR_PRIVATE_KEY_FILE: " + file.error().message);
            auto pem = public_key_from_private_pem(*file);
            wipe(*file);
            if (!pem) return make_error("IBKR_PRIVATE_KEY_FILE: " + pem.error().message);
            id.public_key_pem = std::move(*pem);
        }
    }
    return {};
}

namespace json = boost::json;

// The flags that describe the one user of the single-user mode; --users excludes them.
constexpr std::array<std::string_view, 9> single_user_flags{
    "--env-file", "--client-id", "--client-key-id", "--client-public-key", "--credential",
    "--allowed-ip", "--account",  "--login-type",    "--scope"};

bool is_single_user_flag(std::string_view flag) {
    return std::find(single_user_flags.begin(), single_user_flags.end(), flag) != single_user_flags.end();
}

expected<command_line> checked_settings(command_line out);

// "users[3].username"
std::string user_field(std::size_t index, std::string_view field) {
    std::string out = "users[" + std::to_string(index) + "]";
    if (!field.empty()) {
        out += '.';
        out += field;
    }
    return out;
}

// A public key PEM from a public or private key PEM: IBKR holds the public half.
expected<std::string> public_key_pem_of(std::string_view pem) {
    auto key = rsa_public_key::from_pem(pem);
    if (!key) return key.error();
    return key->pem();
}

// One entry of the users file; key files already read are looked up in `keys` (path -> public PEM).
expected<user_config> parse_user(const json::value& entry, std::size_t index,
                                 std::map<std::string, std::string>& keys) {
    if (!entry.is_object()) return make_error(user_field(index, "") + ": must be an object");
    const json::object& o = entry.as_object();
    static constexpr std::array<std::string_view, 9> known{"client_id",  "key_id",      "public_key_file",
                                                           "public_key", "username",    "accounts",
                                                           "environment", "allowed_ip", "scope"};
    for (const auto& field : o)
        if (std::find(known.begin(), known.end(), field.key()) == known.end())
            return make_error(user_field(index, field.key()) + ": unknown field");
    auto text = [&](std::string_view name, bool required) -> expected<std::optional<std::string>> {
        const auto* v = o.if_contains(name);
        if (v == nullptr) {
            if (required) return make_error(user_field(index, name) + ": missing");
            return std::optional<std::string>{};
        }
        if (!v->is_string() || v->get_string().empty())
            return make_error(user_field(index, name) + ": must be a non-empty string");
        return std::optional<std::string>(std::string(v->get_string()));
    };
    user_config u;
    for (const auto& [name, into] : std::array<std::pair<std::string_view, std::string*>, 3>{
             {{"client_id", &u.client_id}, {"key_id", &u.key_id}, {"username", &u.username}}}) {
        auto v = text(name, true);
        if (!v) return v.error();
        *into = std::move(**v);
    }
    auto scope = text("scope", false);
    if (!scope) return scope.error();
    if (*scope) u.scope = std::move(**scope);

    auto environment = text("environment", true);
    if (!environment) return environment.error();
    auto login = parse_login_type(**environment);
    if (!login) return make_error(user_field(index, "environment") + ": " + sim::quoted(**environment) + " " + login.error().message);
    u.login = *login;

    auto ip_text = text("allowed_ip", true);
    if (!ip_text) return ip_text.error();
    auto ip = checked_ip(**ip_text);
    if (!ip) return make_error(user_field(index, "allowed_ip") + ": " + ip.error().message);
    u.allowed_ip = std::move(*ip);

    const auto* accounts = o.if_contains("accounts");
    if (accounts == nullptr) return make_error(user_field(index, "accounts") + ": missing");
    if (!accounts->is_array() || accounts->as_array().empty())
        return make_error(user_field(index, "accounts") + ": must be a non-empty array of account ids");
    u.accounts.clear();
    for (const auto& a : accounts->as_array()) {
        if (!a.is_string() || a.get_string().empty())
            return make_error(user_field(index, "accounts") + ": must be a non-empty array of account ids");
        u.accounts.emplace_back(a.get_string());
    }

    auto key_file = text("public_key_file", false);
    if (!key_file) return key_file.error();
    auto key_text = text("public_key", false);
    if (!key_text) return key_text.error();
    if (key_file->has_value() == key_text->has_value())
        return make_error(user_field(index, "public_key_file") + ": give exactly one of public_key_file and public_key");
    if (*key_text) {
        auto pem = public_key_pem_of(**key_text);
        if (!pem) return make_error(user_field(index, "public_key") + ": " + pem.error().message);
        u.public_key_pem = std::move(*pem);
    } else if (const auto known_key = keys.find(**key_file); known_key != keys.end()) {
        u.public_key_pem = known_key->second;
    } else {
        auto file = read_text_file(**key_file);
        if (!file) return make_error(user_field(index, "public_key_file") + ": " + file.error().message);
        auto pem = public_key_pem_of(*file);
        wipe(*file);
        if (!pem) return make_error(user_field(index, "public_key_file") + ": " + **key_file + ": " + pem.error().message);
        u.public_key_pem = keys.emplace(**key_file, std::move(*pem)).first->second;
    }
    return u;
}

// Usernames and accounts belong to one user each; users of one client agree on what IBKR keeps per client.
expected<void> check_users(const std::vector<user_config>& users) {
    std::map<std::string_view, std::size_t> usernames;
    std::map<std::string_view, std::size_t> accounts;
    std::map<std::string_view, std::size_t> clients;  // client_id -> its first user
    for (std::size_t i = 0; i < users.size(); ++i) {
        const user_config& u = users[i];
        if (const auto [it, added] = usernames.emplace(u.username, i); !added)
            return make_error(user_field(i, "username") + ": " + sim::quoted(u.username) + " is also " + user_field(it->second, ""));
        for (const auto& a : u.accounts)
            if (const auto [it, added] = accounts.emplace(a, i); !added)
                return make_error(user_field(i, "accounts") + ": " + sim::quoted(a) + " is also an account of " +
                                  user_field(it->second, ""));
        const auto [first, added] = clients.emplace(u.client_id, i);
        if (added) continue;
        const user_config& f = users[first->second];
        auto differs = [&](std::string_view field) {
            return make_error(user_field(i, field) + ": differs from " + user_field(first->second, field) +
                              " of the same client_id " + sim::quoted(u.client_id) + " (one client, one key and scope)");
        };
        if (u.key_id != f.key_id) return differs("key_id");
        if (u.public_key_pem != f.public_key_pem) return differs("public_key");
        if (u.scope != f.scope) return differs("scope");
    }
    return {};
}

std::optional<std::size_t> parse_whole_number(std::string_view text) {
    std::size_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
    return value;
}

expected<std::size_t> parse_count(std::string_view text, std::size_t least, std::size_t most) {
    const auto n = parse_whole_number(text);
    if (!n || *n < least || *n > most)
        return make_error("must be a whole number from " + std::to_string(least) + " to " + std::to_string(most));
    return *n;
}

constexpr std::size_t max_requests_per_second_limit = 10'000;
constexpr std::size_t max_connections_limit = 1'000'000;
constexpr std::size_t min_ws_send_queue = 1024;
constexpr std::size_t max_ws_send_queue = 64 * 1024 * 1024;
constexpr sim_duration min_market_data_interval{10};  // keeps the limiter's memory small

expected<std::size_t> parse_requests_per_second(std::string_view text) {
    const auto n = parse_whole_number(text);
    if (!n || *n > max_requests_per_second_limit)
        return make_error("must be a whole number from 0 (no limit) to " + std::to_string(max_requests_per_second_limit));
    return *n;
}

expected<spdlog::level::level_enum> parse_log_level(std::string_view text) {
    const std::map<std::string_view, spdlog::level::level_enum> levels{
        {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug}, {"info", spdlog::level::info},
        {"warn", spdlog::level::warn},   {"error", spdlog::level::err},   {"off", spdlog::level::off}};
    const auto it = levels.find(text);
    if (it == levels.end()) return make_error("must be trace, debug, info, warn, error or off");
    return it->second;
}

}  // namespace

expected<sim_duration> parse_seconds(std::string_view text) {
    double value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty() || !std::isfinite(value) || value < 0 ||
        value > 10.0 * 365 * 86400)
        return make_error(quoted(text) + " is not a number of seconds (e.g. 60 or 0.5)");
    return sim_duration(static_cast<sim_duration::rep>(std::llround(value * 1000.0)));
}

expected<std::vector<user_config>> parse_users(std::string_view json_text) {
    boost::system::error_code ec;
    const json::value doc = json::parse(json_text, ec);
    if (ec) return make_error("not JSON: " + ec.message());
    const json::value* list = doc.is_object() ? doc.as_object().if_contains("users") : nullptr;
    if (list == nullptr || !list->is_array() || doc.as_object().size() != 1)
        return make_error(R"(must be {"users":[...]})");
    if (list->as_array().empty()) return make_error("users: at least one user is needed");
    if (list->as_array().size() > max_users) return make_error("users: at most " + std::to_string(max_users));
    std::vector<user_config> users;
    users.reserve(list->as_array().size());
    std::map<std::string, std::string> keys;
    for (const auto& entry : list->as_array()) {
        auto u = parse_user(entry, users.size(), keys);
        if (!u) return u.error();
        users.push_back(std::move(*u));
    }
    if (auto checked = check_users(users); !checked) return checked.error();
    return users;
}

expected<std::vector<user_config>> load_users_file(const std::string& path) {
    auto text = read_text_file(path);
    if (!text) return text.error();
    auto users = parse_users(*text);
    wipe(*text);  // may hold private keys
    return users;
}

expected<command_line> parse_command_line(std::span<const std::string_view> args) {
    command_line out;
    model_config& m = out.config.model;
    server_config& s = out.config.server;
    identity_flags id;
    std::optional<std::string> env_file;
    std::optional<std::string> users_file;
    std::vector<std::string_view> identity_given;  // the single-user flags on the line, which --users excludes

    auto seconds_into = [](sim_duration& into) {
        return [&into](std::string_view v) -> expected<void> {
            auto d = parse_seconds(v);
            if (!d) return d.error();
            into = *d;
            return {};
        };
    };
    auto count_into = [](std::size_t& into, std::size_t least, std::size_t most) {
        return [&into, least, most](std::string_view v) -> expected<void> {
            auto n = parse_count(v, least, most);
            if (!n) return n.error();
            into = *n;
            return {};
        };
    };
    auto text_into = [](std::optional<std::string>& into) {
        return [&into](std::string_view v) -> expected<void> {
            if (v.empty()) return make_error("must not be empty");
            into = std::string(v);
            return {};
        };
    };
    auto plain_text_into = [](std::string& into) {
        return [&into](std::string_view v) -> expected<void> {
            if (v.empty()) return make_error("must not be empty");
            into = std::string(v);
            return {};
        };
    };
    auto address_into = [](listen_address& into) {
        return [&into](std::string_view v) -> expected<void> {
            auto a = parse_listen_address(v);
            if (!a) return make_error(quoted(v) + " " + a.error().message);
            into = *a;
            return {};
        };
    };

    const std::map<std::string_view, std::function<expected<void>(std::string_view)>> valued{
        {"--listen", address_into(s.https)},
        {"--control", address_into(s.control)},
        {"--ca-out", text_into(s.ca_out)},
        {"--cert-host", text_into(s.cert_host)},
        {"--tls-cert", text_into(s.tls_cert)},
        {"--tls-key", text_into(s.tls_key)},
        {"--tls-dir", text_into(s.tls_dir)},
        {"--env-file", text_into(env_file)},
        {"--users", text_into(users_file)},
        {"--client-id", text_into(id.client_id)},
        {"--client-key-id", text_into(id.key_id)},
        {"--client-public-key",
         [&](std::string_view v) -> expected<void> {
             auto pem = read_text_file(std::string(v));
             if (!pem) return pem.error();
             auto key = rsa_public_key::from_pem(*pem);
             wipe(*pem);
             if (!key) return key.error();
             id.public_key_pem = key->pem();
             return {};
         }},
        {"--credential", text_into(id.credential)},
        {"--allowed-ip",
         [&](std::string_view v) -> expected<void> {
             auto ip = checked_ip(v);
             if (!ip) return ip.error();
             id.allowed_ip = *ip;
             return {};
         }},
        {"--account",
         [&](std::string_view v) -> expected<void> {
             if (v.empty()) return make_error("must not be empty");
             id.accounts.emplace_back(v);
             return {};
         }},
        {"--login-type",
         [&](std::string_view v) -> expected<void> {
             auto login = parse_login_type(v);
             if (!login) return login.error();
             id.login = *login;
             return {};
         }},
        {"--scope", text_into(id.scope)},
        {"--token-lifetime", seconds_into(m.token_lifetime)},
        {"--sso-lifetime", seconds_into(m.sso_lifetime)},
        {"--sso-max-life", seconds_into(m.sso_max_life)},
        {"--brokerage-idle-timeout", seconds_into(m.brokerage_idle_timeout)},
        {"--tickle-min-interval", seconds_into(m.tickle_min_interval)},
        {"--validate-min-interval", seconds_into(m.validate_min_interval)},
        {"--max-requests-per-second",
         [&](std::string_view v) -> expected<void> {
             auto n = parse_requests_per_second(v);
             if (!n) return n.error();
             m.max_requests_per_second = *n;
             return {};
         }},
        {"--penalty-box", seconds_into(m.penalty_box)},
        {"--clock-skew", seconds_into(m.clock_skew)},
        {"--max-assertion-life", seconds_into(m.max_assertion_life)},
        {"--max-connections", count_into(s.max_connections, 1, max_connections_limit)},
        {"--history-delay", seconds_into(s.history_delay)},
        {"--ws-heartbeat", seconds_into(s.ws_heartbeat)},
        {"--ws-market-data-interval", seconds_into(s.ws_market_data_interval)},
        {"--ws-idle-timeout", seconds_into(s.ws_idle_timeout)},
        {"--ws-send-queue", count_into(s.ws_send_queue, min_ws_send_queue, max_ws_send_queue)},
        {"--server-name", plain_text_into(m.server_name)},
        {"--server-version", plain_text_into(m.server_version)},
        {"--log-level",
         [&](std::string_view v) -> expected<void> {
             auto level = parse_log_level(v);
             if (!level) return level.error();
             s.log_level = *level;
             return {};
         }},
    };
    const std::map<std::string_view, std::function<void()>> switches{
        {"--help", [&] { out.help = true; }},
        {"-h", [&] { out.help = true; }},
        {"--no-validate-extends", [&] { m.validate_extends = false; }},
        {"--tickle-extends", [&] { m.tickle_extends = true; }},
        {"--no-endpoint-limits", [&] { m.endpoint_limits = false; }},
    };

    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string_view arg = args[i];
        std::optional<std::string_view> inline_value;
        if (const auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
            inline_value = arg.substr(eq + 1);
            arg = arg.substr(0, eq);
        }
        if (const auto sw = switches.find(arg); sw != switches.end()) {
            if (inline_value) return make_error(std::string(arg) + " takes no value");
            sw->second();
            continue;
        }
        const auto flag = valued.find(arg);
        if (flag == valued.end()) return make_error("unknown option " + std::string(arg) + " (see --help)");
        std::string_view value;
        if (inline_value) {
            value = *inline_value;
        } else {
            // "--client-id --scope x" lacks a value; a value starting with "--" needs the --flag=value form.
            if (i + 1 >= args.size() || args[i + 1].starts_with("--"))
                return make_error(std::string(arg) + " needs a value");
            value = args[++i];
        }
        if (auto applied = flag->second(value); !applied)
            return make_error(std::string(arg) + ": " + applied.error().message);
        if (is_single_user_flag(arg)) identity_given.push_back(arg);
    }
    if (out.help) return out;

    if (users_file) {
        if (!identity_given.empty())
            return make_error("--users replaces the single-user flags: drop " + std::string(identity_given.front()) +
                              " (or drop --users)");
        auto users = load_users_file(*users_file);
        if (!users) return make_error("--users " + *users_file + ": " + users.error().message);
        m.users = std::move(*users);
        return checked_settings(std::move(out));
    }

    if (env_file) {
        if (auto applied = apply_env_file(*env_file, id); !applied)
            return make_error("--env-file " + *env_file + ": " + applied.error().message);
    }
    if (!id.public_key_pem)
        return make_error("no client public key: pass --client-public-key PATH (public key PEM, or the private key "
                          "PEM to derive it from), or --env-file with IBKR_PRIVATE_KEY or IBKR_PRIVATE_KEY_FILE");
    user_config& u = m.users.front();
    u.public_key_pem = std::move(*id.public_key_pem);
    if (id.client_id) u.client_id = *id.client_id;
    if (id.key_id) u.key_id = *id.key_id;
    if (id.credential) u.username = *id.credential;
    if (id.allowed_ip) u.allowed_ip = *id.allowed_ip;
    if (!id.accounts.empty()) u.accounts = id.accounts;
    if (id.login) u.login = *id.login;
    if (id.scope) u.scope = *id.scope;
    return checked_settings(std::move(out));
}

namespace {

// The checks of the settings that do not depend on where the users came from.
expected<command_line> checked_settings(command_line out) {
    const model_config& m = out.config.model;
    const server_config& s = out.config.server;
    if (s.tls_cert.has_value() != s.tls_key.has_value()) return make_error("--tls-cert and --tls-key go together");
    if (s.tls_cert && (s.cert_host || s.tls_dir || s.ca_out))
        return make_error("--tls-cert/--tls-key replace the generated identity; drop --cert-host, --tls-dir and --ca-out");
    if (m.sso_lifetime.count() == 0) return make_error("--sso-lifetime must be more than 0");
    if (m.token_lifetime.count() == 0) return make_error("--token-lifetime must be more than 0");
    if (s.ws_heartbeat.count() == 0) return make_error("--ws-heartbeat must be more than 0");
    if (s.ws_idle_timeout.count() == 0) return make_error("--ws-idle-timeout must be more than 0");
    if (s.ws_market_data_interval < min_market_data_interval)
        return make_error("--ws-market-data-interval must be at least 0.01");
    if (s.control.host != "localhost" && !boost::asio::ip::make_address(s.control.host).is_loopback())
        return make_error("--control: " + s.control.host +
                          " is not a loopback address; the control API has no authentication");
    return out;
}

}  // namespace

std::string usage_text() {
    return R"(ibkr-sim: a local HTTPS stand-in for api.ibkr.com (OAuth 2.0 token, SSO session, /v1/api session
and trading endpoints, the /v1/api/ws WebSocket) with a control API for fault injection. Durations
are seconds; fractions are allowed.

Listeners
  --listen HOST:PORT             HTTPS API address (default 127.0.0.1:0)
  --control HOST:PORT            plain HTTP control API, loopback only (default 127.0.0.1:0)
  --max-connections N            concurrent connections per listener (default 256)
TLS identity (default: a fresh CA and a server certificate for localhost, 127.0.0.1 and ::1)
  --ca-out PATH                  write the CA certificate here (default: a temporary file, removed at exit)
  --cert-host NAME               the server certificate names exactly NAME (DNS name or IP)
  --tls-dir DIR                  reuse DIR/{ca,server-cert,server-key}.pem, or create them there
  --tls-cert PATH --tls-key PATH use these files instead of a generated identity
Users (one by default, from the flags below; or many from --users)
  --users FILE                   JSON {"users":[{"client_id","key_id","public_key_file" (or "public_key": PEM
                                 text; a private key PEM is accepted),"username","accounts":[..],
                                 "environment":"paper"|"live","allowed_ip"[,"scope"]}, ...]}; users of one
                                 client_id share its key id, key and scope. Excludes the flags below
The single user (flags override --env-file)
  --env-file PATH                the daemon's env file: IBKR_CLIENT_ID, IBKR_CLIENT_KEY_ID, IBKR_PRIVATE_KEY or
                                 IBKR_PRIVATE_KEY_FILE, IBKR_CREDENTIAL, IBKR_ACCOUNT_ID, IBKR_ALLOWED_IP,
                                 IBKR_SCOPE, IBKR_ENV
  --client-id ID                 (default sim-client)
  --client-key-id KID            (default main)
  --client-public-key PATH       public key PEM, or a private key PEM to derive it from (required unless
                                 the env file has the private key)
  --credential NAME              IBKR username (default simuser)
  --allowed-ip IP                the ip claim IBKR accepts (default 127.0.0.1)
  --account ID                   repeatable (default DU1234567)
  --login-type paper|live        (default paper)
  --scope SCOPE                  (default sso-sessions.write)
Session rules
  --token-lifetime S             OAuth access token life, expires_in (default 86400)
  --sso-lifetime S               SSO session life after creation or extension (default 600)
  --sso-max-life S               absolute SSO session limit (default 86400)
  --no-validate-extends          /sso/validate does not extend the SSO session
  --tickle-extends               /tickle extends the SSO session
  --brokerage-idle-timeout S     brokerage session ends after this long without /v1/api requests (default 300)
  --tickle-min-interval S        closer tickles get 429 (default 1)
  --validate-min-interval S      closer validates get 429 (default 60)
  --max-requests-per-second N    IBKR requests accepted in any sliding second, all endpoints together, per
                                 username (token requests per client); more get 429 (default 10, 0 = no limit)
  --penalty-box S                after a 429 of any of these limits every IBKR request from the same IP
                                 address (the users' allowed_ip) gets 429 for S seconds, restarted by each
                                 request meanwhile (default 0 = off)
  --clock-skew S                 how far iat may be in the future (default 30)
  --max-assertion-life S         longest exp - iat of a client assertion (default 300)
  --no-endpoint-limits           lift IBKR's per-endpoint limits (snapshot 10/s, orders, trades, pnl and
                                 portfolio 1 per 5 s, history 5 concurrent): for benchmarks only
  --history-delay S              /iserver/marketdata/history answers this late (default 0)
WebSocket (/v1/api/ws)
  --ws-heartbeat S               system topic heartbeat period (default 10)
  --ws-market-data-interval S    smd update period, at least 0.01 (default 1)
  --ws-send-queue BYTES          bytes queued for a client before it is cut off (default 1048576)
  --ws-idle-timeout S            a socket with no frame from the client this long closes (default 90)
Other
  --server-name NAME, --server-version TEXT   serverInfo in status responses
  --log-level trace|debug|info|warn|error|off (default info)
  --help
When both listeners are bound, one line goes to stdout:
  {"ready":true,"https_port":N,"control_port":M,"ca_file":"PATH"}
)";
}

}  // namespace sessiond::sim
