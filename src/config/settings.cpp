#include "sessiond/config/settings.hpp"

#include "sessiond/config/env_file.hpp"
#include "sessiond/core/secret.hpp"
#include "sessiond/log/redact.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <system_error>
#include <vector>

extern char** environ;

namespace sessiond {

namespace {

// Every variable the daemon reads. Adding one is one line here (plus its parse in settings_loader).
constexpr std::string_view known_variable_table[] = {
    "IBKR_CLIENT_ID",
    "IBKR_CLIENT_KEY_ID",
    "IBKR_PRIVATE_KEY",
    "IBKR_PRIVATE_KEY_FILE",
    "IBKR_CREDENTIAL",
    "IBKR_ACCOUNT_ID",
    "IBKR_ALLOWED_IP",
    "IBKR_SCOPE",
    "IBKR_ENV",
    "IBKR_BASE_URL",
    "BROKER_PROVIDER",
    "ENABLE_MULTI_USER",
    "IBKR_CA_FILE",
    "IBKR_TICKLE_INTERVAL",
    "IBKR_INIT_SETTLE",
    "IBKR_HTTP_TIMEOUT",
    "IBKR_COMPETE",
    "SESSIOND_BACKOFF_INITIAL",
    "SESSIOND_BACKOFF_MAX",
    "IBKR_PACE_TICKLE",
    "IBKR_PACE_VALIDATE",
    "SESSIOND_LISTEN",
    "SESSIOND_API_TOKEN",
    "SESSIOND_RATE_LIMIT_PENALTY",
    "SESSIOND_LOGIN_MIN_INTERVAL",
    "SESSIOND_LOGINS_PER_HOUR",
    "SESSIOND_STATE_DIR",
    "IBKR_MAX_REQUESTS_PER_SECOND",
    "SESSIOND_SIMULATOR_LIMITS",
    "IBKR_REGION",
    "IBKR_RESET_TIME",
};

// Variables whose values are never shown.
constexpr std::string_view secret_variable_table[] = {
    "IBKR_PRIVATE_KEY",
    "IBKR_CREDENTIAL",
    "SESSIOND_API_TOKEN",
};

// The prefixes of the daemon's own variables: an unknown name under them is most likely a typo.
constexpr std::array<std::string_view, 2> daemon_prefixes = {"IBKR_", "SESSIOND_"};

constexpr std::string_view credential_name = "ibkr-private-key";
constexpr std::string_view credential_variable = "CREDENTIALS_DIRECTORY/ibkr-private-key";
constexpr std::string_view credential_source = "systemd credential ibkr-private-key";
constexpr std::string_view api_token_credential = "sessiond-api-token";
constexpr std::size_t min_api_token_length = 16;

// Key files, CA bundles and env files are small; a bigger "file" is a mistake such as /dev/zero.
constexpr std::size_t max_file_size = 4 * 1024 * 1024;
constexpr std::size_t max_quoted_length = 60;
constexpr int max_suggestion_distance = 2;

char to_upper(char c) { return static_cast<char>(std::toupper(static_cast<unsigned char>(c))); }

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
    return text.size() >= prefix.size() && equals_ignoring_case(text.substr(0, prefix.size()), prefix);
}

bool is_space_or_control(char c) {
    const auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f;
}

bool is_ascii_alnum(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

// Control characters escaped, so that a value can never forge a line of the report; at most
// max_quoted_length bytes of the original, cut on a UTF-8 character boundary.
std::string printable(std::string_view text) {
    bool cut = false;
    if (text.size() > max_quoted_length) {
        std::size_t end = max_quoted_length;
        while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
        text = text.substr(0, end);
        cut = true;
    }
    std::string out;
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (u < 0x20 || u == 0x7f) {
            std::array<char, 5> hex{};
            std::snprintf(hex.data(), hex.size(), "\\x%02x", u);
            out += hex.data();
        } else {
            out += c;
        }
    }
    if (cut) out += "...";
    return out;
}

std::string cannot_read(const std::filesystem::path& path, int err) {
    return "cannot read " + path.string() + ": " + std::error_code(err, std::generic_category()).message();
}

// The whole of a small file, in a buffer that is wiped before it is ever grown or dropped, so that
// no copy of a key is left in freed memory. mode receives the permission bits.
expected<secret> read_file(const std::filesystem::path& path, mode_t* mode = nullptr) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return make_error(cannot_read(path, errno));
    struct close_on_exit {
        int fd;
        ~close_on_exit() { ::close(fd); }
    } closer{fd};
    struct stat st {};
    if (::fstat(fd, &st) != 0) return make_error(cannot_read(path, errno));
    if (S_ISDIR(st.st_mode)) return make_error(cannot_read(path, EISDIR));
    if (mode != nullptr) *mode = st.st_mode & 07777;

    const auto expected_size = static_cast<std::size_t>(std::max<off_t>(st.st_size, 0)) + 1;
    std::string buffer(std::clamp<std::size_t>(expected_size, 4096, max_file_size + 1), '\0');
    std::size_t length = 0;
    for (;;) {
        if (length == buffer.size()) {
            if (buffer.size() > max_file_size) {
                wipe(buffer);
                return make_error(cannot_read(path, EFBIG));
            }
            std::string bigger(std::min(buffer.size() * 2, max_file_size + 1), '\0');
            std::copy_n(buffer.data(), length, bigger.data());
            wipe(buffer);
            buffer.swap(bigger);
        }
        const ssize_t n = ::read(fd, buffer.data() + length, buffer.size() - length);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const int err = errno;
            wipe(buffer);
            return make_error(cannot_read(path, err));
        }
        if (n == 0) break;
        length += static_cast<std::size_t>(n);
    }
    buffer.resize(length);  // shrinking never reallocates; wipe() later reaches the whole capacity
    return secret(std::move(buffer));
}

int count_pem_certificates(std::string_view pem) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())),
                                                  &BIO_free);
    if (!bio) return 0;
    int count = 0;
    // PEM_read_bio_X509 skips blocks of other types and stops at the first damaged certificate.
    while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
        X509_free(cert);
        ++count;
    }
    ERR_clear_error();
    return count;
}

// Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours.
int edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::vector<int>> d(a.size() + 1, std::vector<int>(b.size() + 1, 0));
    for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = static_cast<int>(i);
    for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = static_cast<int>(j);
    for (std::size_t i = 1; i <= a.size(); ++i) {
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const int cost = a[i - 1] == b[j - 1] ? 0 : 1;
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
    }
    return d[a.size()][b.size()];
}

bool is_known_variable(std::string_view name) {
    return std::ranges::find(known_variable_table, name) != std::end(known_variable_table);
}

bool in_daemon_namespace(std::string_view name) {
    return std::ranges::any_of(daemon_prefixes, [&](std::string_view p) { return starts_with_ignoring_case(name, p); });
}

// "unknown variable NAME (ignored); did you mean KNOWN?" for a name that looks like one of ours.
std::optional<std::string> unknown_variable_warning(std::string_view name) {
    if (!in_daemon_namespace(name) || is_known_variable(name)) return std::nullopt;
    std::string upper(name);
    std::ranges::transform(upper, upper.begin(), to_upper);
    std::string text = "unknown variable " + printable(name) + " (ignored)";
    std::optional<std::string_view> best;
    int best_distance = max_suggestion_distance + 1;
    for (const std::string_view known : known_variable_table) {
        const int distance = edit_distance(upper, known);
        if (distance < best_distance) {
            best = known;
            best_distance = distance;
        }
    }
    if (best) text += "; did you mean " + std::string(*best) + "?";
    return text;
}

// A range of seconds with an inclusive maximum and an inclusive or exclusive minimum.
struct seconds_range {
    double min;
    bool min_exclusive;
    double max;

    [[nodiscard]] bool contains(double v) const { return v <= max && (min_exclusive ? v > min : v >= min); }
    [[nodiscard]] std::string message() const {
        if (min_exclusive)
            return "must be more than " + format_seconds(min) + " and at most " + format_seconds(max) + " seconds";
        return "must be between " + format_seconds(min) + " and " + format_seconds(max) + " seconds";
    }
};

constexpr double max_tickle_interval = 290;
constexpr double max_backoff = 86400;
constexpr int max_logins_per_hour = 1000;
// IBKR's newer documentation allows 50 requests a second per username, the older 10 (the default).
constexpr int max_requests_per_second = 50;

// A setting looser than IBKR's limit (or than the login budget that protects the account).
struct limit_breach {
    std::string_view variable;
    std::string value;       // "0 s", "50"
    std::string_view limit;  // "IBKR's limit of one validate per minute (60 s)"
};

// IBKR's documented limits, and the production login budget; see the protocol reference, section 5.
constexpr double ibkr_tickle_pace = 1;
constexpr double ibkr_validate_pace = 60;
// The CP Gateway's (older) documented global limit; the newer documentation's 50 is not relied on.
constexpr int ibkr_requests_per_second = 10;
constexpr double production_login_min_interval = 10;
constexpr int production_logins_per_hour = 30;
// IBKR's penalty box after a 429 lasts 10 to 15 minutes.
constexpr double ibkr_penalty_box = 600;

std::vector<limit_breach> limits_looser_than_ibkr(const session_options& o) {
    std::vector<limit_breach> out;
    const auto seconds = [](seconds_f s) { return format_seconds(s.count()) + " s"; };
    if (o.pace_tickle.count() < ibkr_tickle_pace)
        out.push_back({"IBKR_PACE_TICKLE", seconds(o.pace_tickle), "IBKR's limit of one tickle per second (1 s)"});
    if (o.pace_validate.count() < ibkr_validate_pace)
        out.push_back({"IBKR_PACE_VALIDATE", seconds(o.pace_validate), "IBKR's limit of one validate per minute (60 s)"});
    if (o.max_requests_per_second > ibkr_requests_per_second)
        out.push_back({"IBKR_MAX_REQUESTS_PER_SECOND", std::to_string(o.max_requests_per_second),
                       "IBKR's documented global limit of 10 requests per second"});
    if (o.login_min_interval.count() < production_login_min_interval)
        out.push_back({"SESSIOND_LOGIN_MIN_INTERVAL", seconds(o.login_min_interval),
                       "the login budget's 10 s between logins, which protects the IBKR account"});
    if (o.logins_per_hour > production_logins_per_hour)
        out.push_back({"SESSIOND_LOGINS_PER_HOUR", std::to_string(o.logins_per_hour),
                       "the login budget's 30 logins an hour, which protects the IBKR account"});
    if (o.rate_limit_penalty.count() < ibkr_penalty_box)
        out.push_back({"SESSIOND_RATE_LIMIT_PENALTY", seconds(o.rate_limit_penalty),
                       "IBKR's penalty box after a 429, 10 to 15 minutes (600 s at least)"});
    return out;
}

// A whole number in plain decimal digits ("30"), nothing else.
std::optional<int> parse_count(std::string_view text) {
    if (text.empty() || text.size() > 9) return std::nullopt;
    int n = 0;
    for (const char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + (c - '0');
    }
    return n;
}

// Builds one config_report from the sources: looks variables up (environment first), checks each,
// and records every problem it meets.
class settings_loader {
public:
    explicit settings_loader(const config_sources& sources) : sources_(sources) {}

    config_report run() {
        read_env_file();
        warn_about_variables();
        load_identity();
        load_private_key();
        load_endpoint();
        load_timing();
        check_ibkr_limits();
        load_features();
        load_service();
        return std::move(report_);
    }

private:
    // ---- sources ------------------------------------------------------------------------------

    void read_env_file() {
        if (!sources_.env_file) return;
        const std::filesystem::path& path = *sources_.env_file;
        auto text = read_file(path);
        if (!text) return problem("--env-file", text.error().message);
        auto entries = parse_env_file(text->reveal());
        if (!entries) return problem("--env-file", path.string() + ": " + entries.error().message);
        file_ = std::move(*entries);
        for (const env_entry& entry : file_.items) {
            auto [it, inserted] = file_index_.try_emplace(entry.name, &entry);
            if (inserted) continue;
            warn(file_line(entry.line) + ": " + entry.name + " set again; line " + std::to_string(it->second->line) +
                 " is ignored");
            it->second = &entry;  // the later one wins, like dotenv
        }
    }

    void warn_about_variables() {
        for (const env_entry& entry : file_.items) {
            if (auto w = unknown_variable_warning(entry.name)) warn(file_line(entry.line) + ": " + *w);
        }
        for (const auto& [name, value] : sources_.environment) {
            if (auto w = unknown_variable_warning(name)) warn("environment: " + *w);
            // Compose files often pass "${VAR}" through empty: say why the env file line had no effect.
            const auto in_file = file_index_.find(name);
            if (value.empty() && in_file != file_index_.end() && !in_file->second->value.empty() &&
                is_known_variable(name))
                warn("environment: " + name + " is set but empty and overrides " + file_line(in_file->second->line));
        }
    }

    std::string file_line(int line) const { return sources_.env_file->string() + " line " + std::to_string(line); }

    // The value as configured: the environment wins over the env file. Empty values are returned.
    std::optional<std::string_view> find(std::string_view name) const {
        if (auto it = sources_.environment.find(std::string(name)); it != sources_.environment.end())
            return std::string_view(it->second);
        if (auto it = file_index_.find(name); it != file_index_.end()) return std::string_view(it->second->value);
        return std::nullopt;
    }

    // A variable the daemon cannot run without: reports it when missing or empty.
    std::optional<std::string_view> required(std::string_view name) {
        const auto value = find(name);
        if (!value) problem(name, "missing");
        else if (value->empty()) problem(name, "is empty");
        if (!value || value->empty()) return std::nullopt;
        return value;
    }

    // An optional variable: unset and empty both mean "use the default".
    std::optional<std::string_view> optional(std::string_view name) const {
        const auto value = find(name);
        if (!value || value->empty()) return std::nullopt;
        return value;
    }

    // ---- messages -----------------------------------------------------------------------------

    void problem(std::string_view variable, std::string message) {
        report_.problems.push_back({std::string(variable), std::move(message)});
    }
    void warn(std::string text) { report_.warnings.push_back(std::move(text)); }

    // The value as a message may show it: quoted, or "the value" when it is (or holds) a secret.
    std::string shown(std::string_view variable, std::string_view value) const {
        if (is_secret_variable(variable) || looks_secret(value)) return "the value";
        return "\"" + printable(value) + "\"";
    }

    // A secret pasted into the wrong variable must not come out through that variable's message.
    bool looks_secret(std::string_view value) const {
        if (contains_secret_material(value)) return true;
        const auto overlaps = [&](std::string_view secret_value) {
            if (secret_value.empty()) return false;
            return value.find(secret_value) != std::string_view::npos ||
                   (value.size() >= 4 && secret_value.find(value) != std::string_view::npos);
        };
        for (const auto& [name, v] : sources_.environment)
            if (is_secret_variable(name) && overlaps(v)) return true;
        for (const env_entry& entry : file_.items)
            if (is_secret_variable(entry.name) && overlaps(entry.value)) return true;
        return false;
    }

    // ---- identity -----------------------------------------------------------------------------

    // Identifiers travel in JSON and JWT claims: a blank or control character is always a paste error.
    bool check_token(std::string_view name, std::string_view value) {
        if (std::ranges::none_of(value, is_space_or_control)) return true;
        problem(name, "must not contain spaces or control characters");
        return false;
    }

    void load_identity() {
        ibkr_profile& p = report_.values.profile;
        for (auto [name, field] : {std::pair{"IBKR_CLIENT_ID", &p.client_id},
                                   std::pair{"IBKR_CLIENT_KEY_ID", &p.client_key_id},
                                   std::pair{"IBKR_CREDENTIAL", &p.credential}}) {
            if (const auto v = required(name); v && check_token(name, *v)) *field = *v;
        }
        if (const auto v = required("IBKR_ACCOUNT_ID")) {
            if (std::ranges::all_of(*v, is_ascii_alnum)) p.account_id = *v;
            else problem("IBKR_ACCOUNT_ID", shown("IBKR_ACCOUNT_ID", *v) +
                                                " is not an IBKR account id (letters and digits, e.g. DU1234567)");
        }
        if (const auto v = required("IBKR_ALLOWED_IP")) {
            if (check_ip_literal(*v)) p.allowed_ip = *v;
            else problem("IBKR_ALLOWED_IP", shown("IBKR_ALLOWED_IP", *v) +
                                                " is not an IP address; set the public IP that IBKR has whitelisted "
                                                "for this client");
        }
        if (const auto v = required("IBKR_ENV")) {
            if (equals_ignoring_case(*v, "paper")) p.environment = ibkr_environment::paper;
            else if (equals_ignoring_case(*v, "live")) p.environment = ibkr_environment::live;
            else problem("IBKR_ENV", shown("IBKR_ENV", *v) + " must be paper or live");
        }
        if (const auto v = optional("IBKR_SCOPE"); v && check_token("IBKR_SCOPE", *v)) p.scope = *v;
    }

    // ---- private key --------------------------------------------------------------------------

    void load_private_key() {
        const auto inline_pem = find("IBKR_PRIVATE_KEY");
        const auto key_file = find("IBKR_PRIVATE_KEY_FILE");
        std::optional<std::filesystem::path> credential;
        if (sources_.credentials_directory) {
            auto path = *sources_.credentials_directory / credential_name;
            std::error_code ec;
            // A credential we may not even stat is still there: reading it reports why it fails.
            if (std::filesystem::exists(path, ec) || ec) credential = std::move(path);
        }

        std::vector<std::string_view> sources;
        if (inline_pem && !inline_pem->empty()) sources.emplace_back("IBKR_PRIVATE_KEY");
        if (key_file && !key_file->empty()) sources.emplace_back("IBKR_PRIVATE_KEY_FILE");
        if (credential) sources.emplace_back(credential_source);

        if (sources.empty()) {
            if (inline_pem) problem("IBKR_PRIVATE_KEY", "is empty");
            if (key_file) problem("IBKR_PRIVATE_KEY_FILE", "is empty");
            if (!inline_pem && !key_file)
                problem("IBKR_PRIVATE_KEY",
                        "missing (set IBKR_PRIVATE_KEY, IBKR_PRIVATE_KEY_FILE or the systemd credential "
                        "ibkr-private-key)");
            return;
        }
        if (sources.size() > 1) {
            std::string list(sources[0]);
            for (std::size_t i = 1; i < sources.size(); ++i)
                list += (i + 1 == sources.size() ? " and " : ", ") + std::string(sources[i]);
            problem("IBKR_PRIVATE_KEY", "set in more than one place (" + list + "); keep exactly one");
            return;
        }

        if (inline_pem && !inline_pem->empty()) {
            use_key("IBKR_PRIVATE_KEY", *inline_pem, "IBKR_PRIVATE_KEY");
        } else if (key_file && !key_file->empty()) {
            const std::filesystem::path path(*key_file);
            mode_t mode = 0;
            const auto pem = read_file(path, &mode);
            if (!pem) return problem("IBKR_PRIVATE_KEY_FILE", pem.error().message);
            if ((mode & 044) != 0) {
                std::array<char, 16> octal{};
                std::snprintf(octal.data(), octal.size(), "%04o", static_cast<unsigned>(mode));
                warn("IBKR_PRIVATE_KEY_FILE " + path.string() + " is readable by other users (mode " + octal.data() +
                     "); chmod 600 it");
            }
            use_key("IBKR_PRIVATE_KEY_FILE", pem->reveal(), "IBKR_PRIVATE_KEY_FILE (" + path.string() + ")");
        } else {
            const auto pem = read_file(*credential);
            if (!pem) return problem(credential_variable, pem.error().message);
            use_key(credential_variable, pem->reveal(), std::string(credential_source));
        }
    }

    void use_key(std::string_view variable, std::string_view pem, std::string source) {
        auto key = rsa_private_key::from_pem(pem);
        if (!key) return problem(variable, key.error().message);
        report_.values.profile.private_key = std::move(*key);
        report_.values.profile.private_key_source = std::move(source);
    }

    // ---- endpoint and features ----------------------------------------------------------------

    void load_endpoint() {
        session_options& o = report_.values.options;
        if (const auto v = optional("IBKR_BASE_URL")) {
            // Never quoted: a URL may carry a password or token.
            if (auto url = parse_base_url(*v)) o.endpoint = std::move(*url);
            else problem("IBKR_BASE_URL", url.error().message);
        }
        if (const auto v = optional("IBKR_CA_FILE")) {
            const std::filesystem::path path(*v);
            if (const auto pem = read_file(path); !pem) problem("IBKR_CA_FILE", pem.error().message);
            else if (count_pem_certificates(pem->reveal()) == 0)
                problem("IBKR_CA_FILE", path.string() + " contains no PEM certificate");
            else o.ca_file = path;
        }
        if (const auto v = optional("IBKR_COMPETE")) {
            if (const auto b = parse_bool(*v)) o.compete = *b;
            else problem("IBKR_COMPETE", shown("IBKR_COMPETE", *v) + " " + b.error().message);
        }
        load_calendar();
    }

    void load_calendar() {
        session_options& o = report_.values.options;
        std::optional<ibkr_region> region = ibkr_region::new_york;
        if (const auto v = optional("IBKR_REGION")) {
            if (equals_ignoring_case(*v, "none")) {
                region.reset();
            } else if (const auto r = parse_region(*v)) {
                region = *r;
            } else {
                problem("IBKR_REGION", shown("IBKR_REGION", *v) + " is not new_york, zug, hong_kong or none");
                return;
            }
        }
        std::chrono::seconds reset_time = std::chrono::hours(1);
        if (const auto v = optional("IBKR_RESET_TIME")) {
            const auto t = parse_time_of_day(*v);
            if (!t) {
                problem("IBKR_RESET_TIME", shown("IBKR_RESET_TIME", *v) + " " + t.error().message);
                return;
            }
            reset_time = *t;
        }
        if (!region) return;
        // TZDIR, as glibc reads it, else the system's database.
        std::optional<std::filesystem::path> tzdir;
        if (auto it = sources_.environment.find("TZDIR"); it != sources_.environment.end() && !it->second.empty())
            tzdir = std::filesystem::path(it->second);
        auto zone = time_zone::load(zone_name(*region), tzdir);
        if (!zone) {
            warn("IBKR_REGION=" + std::string(to_string(*region)) + ": " + zone.error().message +
                 "; IBKR's maintenance windows are unknown, so failures in them count as ordinary failures");
            return;
        }
        o.calendar = std::make_shared<const ibkr_calendar>(*region, std::move(*zone), reset_time);
    }

    void load_features() {
        settings& s = report_.values;
        if (const auto v = optional("BROKER_PROVIDER")) {
            if (equals_ignoring_case(*v, "ibkr")) s.broker_provider = "ibkr";
            else problem("BROKER_PROVIDER", shown("BROKER_PROVIDER", *v) + " is not supported; only ibkr");
        }
        if (const auto v = optional("ENABLE_MULTI_USER")) {
            const auto b = parse_bool(*v);
            if (!b) {
                problem("ENABLE_MULTI_USER", shown("ENABLE_MULTI_USER", *v) + " " + b.error().message);
            } else {
                s.multi_user = *b;
                if (*b)
                    problem("ENABLE_MULTI_USER", "multi-user mode is not supported yet; set ENABLE_MULTI_USER=false "
                                                 "(one IBKR user per daemon for now)");
            }
        }
    }

    // ---- the daemon's own API ----------------------------------------------------------------------

    void service_problem(std::string_view variable, std::string message) {
        report_.problems.push_back({std::string(variable), std::move(message), true});
    }

    void load_service() {
        service_options& svc = report_.values.service;
        std::optional<std::filesystem::path> configured_state_dir;
        if (const auto v = optional("SESSIOND_STATE_DIR")) {
            if (v->empty() || v->front() != '/') problem("SESSIOND_STATE_DIR", shown("SESSIOND_STATE_DIR", *v) + " is not an absolute path");
            else configured_state_dir = std::filesystem::path(*v);
        }
        svc.state_dirs = resolve_state_directory(configured_state_dir, sources_.environment);
        if (const auto v = optional("SESSIOND_LISTEN")) {
            if (auto a = parse_listen_address(*v)) svc.listen = std::move(*a);
            else service_problem("SESSIOND_LISTEN", shown("SESSIOND_LISTEN", *v) + " " + a.error().message);
        }

        const auto from_env = optional("SESSIOND_API_TOKEN");
        std::optional<std::filesystem::path> credential;
        if (sources_.credentials_directory) {
            auto path = *sources_.credentials_directory / api_token_credential;
            std::error_code ec;
            if (std::filesystem::exists(path, ec) || ec) credential = std::move(path);
        }
        if (from_env && credential) {
            service_problem("SESSIOND_API_TOKEN", "set in more than one place (SESSIOND_API_TOKEN and systemd credential "
                                                  "sessiond-api-token); keep exactly one");
        } else if (from_env) {
            use_api_token(*from_env, "SESSIOND_API_TOKEN");
        } else if (credential) {
            auto text = read_file(*credential);
            if (!text) return service_problem("SESSIOND_API_TOKEN", text.error().message);
            std::string_view token = text->reveal();
            while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.remove_suffix(1);
            use_api_token(token, "systemd credential sessiond-api-token");
        }

        if (!svc.api_token && !is_loopback(svc.listen))
            service_problem("SESSIOND_LISTEN", to_string(svc.listen) +
                                                   " is reachable from other hosts but no API token is set; set "
                                                   "SESSIOND_API_TOKEN (or the credential sessiond-api-token), or "
                                                   "listen on 127.0.0.1");
    }

    void use_api_token(std::string_view token, std::string source) {
        if (std::ranges::any_of(token, is_space_or_control))
            return service_problem("SESSIOND_API_TOKEN", "must not contain spaces or control characters");
        if (token.size() < min_api_token_length)
            return service_problem("SESSIOND_API_TOKEN",
                                   "is too short (" + std::to_string(token.size()) +
                                       " characters); use at least 16 random characters, e.g. openssl rand -hex 32");
        report_.values.service.api_token = secret(token);
        report_.values.service.api_token_source = std::move(source);
    }

    // ---- timing -------------------------------------------------------------------------------

    // The number in NAME when it is set and parses; reports it when it does not.
    std::optional<double> seconds_value(std::string_view name) {
        const auto v = optional(name);
        if (!v) return std::nullopt;
        const auto parsed = parse_seconds(*v);
        if (!parsed) {
            problem(name, shown(name, *v) + " " + parsed.error().message);
            return std::nullopt;
        }
        return parsed->count();
    }

    void load_seconds(std::string_view name, seconds_f& field, seconds_range range) {
        const auto v = seconds_value(name);
        if (!v) return;
        if (range.contains(*v)) field = seconds_f(*v);
        else problem(name, range.message());
    }

    void load_count(std::string_view name, int& field, int max) {
        const auto v = optional(name);
        if (!v) return;
        const auto n = parse_count(*v);
        if (!n || *n < 1 || *n > max)
            problem(name, shown(name, *v) + " is not a whole number from 1 to " + std::to_string(max));
        else field = *n;
    }

    void load_timing() {
        session_options& o = report_.values.options;
        load_seconds("IBKR_PACE_TICKLE", o.pace_tickle, {0, false, 60});
        load_seconds("IBKR_PACE_VALIDATE", o.pace_validate, {0, false, 3600});
        load_seconds("IBKR_INIT_SETTLE", o.init_settle, {0, false, 60});
        load_seconds("IBKR_HTTP_TIMEOUT", o.http_timeout, {0, true, 120});
        load_seconds("SESSIOND_BACKOFF_INITIAL", o.backoff_initial, {0, true, 3600});
        load_seconds("SESSIOND_RATE_LIMIT_PENALTY", o.rate_limit_penalty, {0, true, 86400});
        load_seconds("SESSIOND_LOGIN_MIN_INTERVAL", o.login_min_interval, {0, false, 3600});
        load_count("SESSIOND_LOGINS_PER_HOUR", o.logins_per_hour, max_logins_per_hour);
        load_count("IBKR_MAX_REQUESTS_PER_SECOND", o.max_requests_per_second, max_requests_per_second);

        // IBKR_PACE_TICKLE is at most 60 s, so only a configured interval can fall below it.
        if (const auto v = seconds_value("IBKR_TICKLE_INTERVAL")) {
            if (*v > max_tickle_interval)
                problem("IBKR_TICKLE_INTERVAL", "must be at most 290 s: the brokerage session lapses after about 5 "
                                                "minutes without a tickle");
            else if (*v < o.pace_tickle.count())
                problem("IBKR_TICKLE_INTERVAL", "must be at least IBKR_PACE_TICKLE (" +
                                                    format_seconds(o.pace_tickle.count()) +
                                                    " s): IBKR allows one tickle per second");
            else if (*v <= 0)  // only reachable with IBKR_PACE_TICKLE=0: never tickle in a tight loop
                problem("IBKR_TICKLE_INTERVAL", seconds_range{0, true, max_tickle_interval}.message());
            else o.tickle_interval = seconds_f(*v);
        }

        // Bounds set by another variable use its effective value (the default when it is unset or
        // invalid). SESSIOND_BACKOFF_INITIAL may exceed the default maximum: then the default conflicts.
        const bool max_set = optional("SESSIOND_BACKOFF_MAX").has_value();
        if (const auto v = max_set ? seconds_value("SESSIOND_BACKOFF_MAX") : o.backoff_max.count()) {
            if (*v > max_backoff)
                problem("SESSIOND_BACKOFF_MAX", "must be at most " + format_seconds(max_backoff) + " seconds");
            else if (*v < o.backoff_initial.count())
                problem("SESSIOND_BACKOFF_MAX",
                        "must be at least SESSIOND_BACKOFF_INITIAL (" + format_seconds(o.backoff_initial.count()) +
                            " s)" +
                            (max_set ? "" : "; it is not set and defaults to " + format_seconds(*v) + " s"));
            else o.backoff_max = seconds_f(*v);
        }
    }

    // ---- IBKR's limits ------------------------------------------------------------------------

    // Pacing looser than IBKR's limits earns the penalty box (or, for the login budget, puts the
    // account at risk): only SESSIOND_SIMULATOR_LIMITS=true allows it, whatever the base URL.
    void check_ibkr_limits() {
        bool allowed = false;
        if (const auto v = optional("SESSIOND_SIMULATOR_LIMITS")) {
            if (const auto b = parse_bool(*v)) allowed = *b;
            else limit_problem("SESSIOND_SIMULATOR_LIMITS", shown("SESSIOND_SIMULATOR_LIMITS", *v) + " " + b.error().message);
        }
        report_.values.simulator_limits = allowed;
        const std::vector<limit_breach> breaches = limits_looser_than_ibkr(report_.values.options);
        if (!allowed) {
            for (const limit_breach& b : breaches)
                limit_problem(b.variable, b.value + " is looser than " + std::string(b.limit) +
                                              "; SESSIOND_SIMULATOR_LIMITS=true allows it, for ibkr-sim only");
            return;
        }
        std::string in_force;
        for (const limit_breach& b : breaches)
            in_force += (in_force.empty() ? " (" : ", ") + std::string(b.variable) + "=" + b.value;
        if (!in_force.empty()) in_force += ")";
        warn("SESSIOND_SIMULATOR_LIMITS=true: simulator limits are in force" + in_force +
             ": pacing looser than IBKR's documented limits is allowed; for ibkr-sim only, never against IBKR");
    }

    void limit_problem(std::string_view variable, std::string message) {
        report_.problems.push_back({std::string(variable), std::move(message), true});
    }

    const config_sources& sources_;
    env_entries file_;
    std::map<std::string_view, const env_entry*, std::less<>> file_index_;  // name -> the entry that wins
    config_report report_;
};

}  // namespace

bool is_secret_variable(std::string_view name) noexcept {
    return std::ranges::find(secret_variable_table, name) != std::end(secret_variable_table);
}

std::span<const std::string_view> known_variables() { return known_variable_table; }

config_sources sources_from_process(std::optional<std::filesystem::path> env_file) {
    config_sources out;
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
        const std::string_view text(*entry);
        const auto eq = text.find('=');
        if (eq == std::string_view::npos) continue;
        // emplace keeps the first of duplicate names, as getenv() does.
        out.environment.emplace(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
    }
    if (auto it = out.environment.find("CREDENTIALS_DIRECTORY"); it != out.environment.end() && !it->second.empty())
        out.credentials_directory = it->second;
    out.env_file = std::move(env_file);
    return out;
}

config_report load_settings(const config_sources& sources) { return settings_loader(sources).run(); }

namespace {

// Whether an environment value is what systemd's EnvironmentFile= made of a line whose value this
// daemon reads as `parsed`: the same, or (systemd knows comments only at the start of a line) the
// same followed by blanks and an inline "# comment".
bool is_systemd_copy(std::string_view environment_value, std::string_view parsed) {
    if (environment_value == parsed) return true;
    if (!environment_value.starts_with(parsed)) return false;
    std::string_view rest = environment_value.substr(parsed.size());
    const auto blanks = rest.find_first_not_of(" \t");
    return blanks != 0 && blanks != std::string_view::npos && rest[blanks] == '#';
}

}  // namespace

std::set<std::string> environment_copied_from_env_file(const config_sources& sources) {
    std::set<std::string> out;
    if (!sources.env_file) return out;
    const auto text = read_file(*sources.env_file);
    if (!text) return out;
    const auto entries = parse_env_file(text->reveal());
    if (!entries) return out;
    std::map<std::string_view, std::string_view> file;  // the later line wins, as in the loader
    for (const env_entry& e : entries->items) file[e.name] = e.value;
    for (const auto& [name, value] : file) {
        const auto it = sources.environment.find(std::string(name));
        if (it != sources.environment.end() && is_systemd_copy(it->second, value)) out.emplace(name);
    }
    return out;
}

void forget_environment(config_sources& sources, const std::set<std::string>& names) {
    for (const auto& name : names) {
        if (auto it = sources.environment.find(name); it != sources.environment.end()) {
            wipe(it->second);
            sources.environment.erase(it);
        }
    }
}

void use_state_directory(config_report& report) {
    service_options& svc = report.values.service;
    const state_dir_choice choice = choose_state_directory(svc.state_dirs);
    std::string tried;
    for (const std::string& f : choice.failures) tried += (tried.empty() ? "" : "; ") + f;
    if (choice.chosen) {
        svc.state_dir = choice.chosen->path;
        svc.state_dir_rule = choice.chosen->rule;
        svc.state_dir_unavailable.clear();
        if (!tried.empty())
            report.warnings.push_back("state directory: using " + choice.chosen->path.string() + " (" +
                                      choice.chosen->rule + ") because " + tried);
        return;
    }
    svc.state_dir.reset();
    svc.state_dir_rule.clear();
    svc.state_dir_unavailable = "no usable state directory (" + tried + ")";
}

bool config_report::can_start() const noexcept {
    return std::none_of(problems.begin(), problems.end(), [](const config_problem& p) { return p.blocks_start; });
}

config_sources::~config_sources() {
    for (auto& [name, value] : environment) wipe(value);
}

}  // namespace sessiond
