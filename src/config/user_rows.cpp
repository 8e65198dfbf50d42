#include "sessiond/config/user_rows.hpp"

#include "sessiond/config/systemd_environment.hpp"
#include "sessiond/core/state_file.hpp"
#include "sessiond/crypto/pem_certificates.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <string>
#include <vector>

namespace sessiond {

namespace {

constexpr std::string_view credential_variable = "CREDENTIALS_DIRECTORY/ibkr-private-key";
constexpr std::string_view credential_source = "systemd credential ibkr-private-key";

bool is_ascii_alnum(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

class user_rows_loader {
public:
    user_rows_loader(variable_reader& in, const user_host& host, ibkr_profile& profile, session_options& options)
        : in_(in), host_(host), profile_(profile), options_(options) {}

    void run() {
        run_identity();
        run_shared();
    }
    void run_shared() {
        load_endpoint();
        load_calendar();
    }
    void run_identity() {
        load_identity();
        load_private_key();
    }

private:
    // Identifiers travel in JSON and JWT claims: a blank or control character is always a paste error.
    bool check_token(std::string_view name, std::string_view value) {
        if (!has_space_or_control(value)) return true;
        in_.problem(name, "must not contain spaces or control characters");
        return false;
    }

    void load_identity() {
        ibkr_profile& p = profile_;
        for (auto [name, field] : {std::pair{"IBKR_CLIENT_ID", &p.client_id},
                                   std::pair{"IBKR_CLIENT_KEY_ID", &p.client_key_id},
                                   std::pair{"IBKR_CREDENTIAL", &p.credential}}) {
            if (const auto v = in_.required(name); v && check_token(name, *v)) *field = *v;
        }
        if (const auto v = in_.required("IBKR_ACCOUNT_ID")) {
            if (std::ranges::all_of(*v, is_ascii_alnum)) p.account_id = *v;
            else in_.problem("IBKR_ACCOUNT_ID", in_.shown("IBKR_ACCOUNT_ID", *v) +
                                                    " is not an IBKR account id (letters and digits, e.g. DU1234567)");
        }
        if (const auto v = in_.required("IBKR_ALLOWED_IP")) {
            if (check_ip_literal(*v)) p.allowed_ip = *v;
            else in_.problem("IBKR_ALLOWED_IP", in_.shown("IBKR_ALLOWED_IP", *v) +
                                                    " is not an IP address; set the public IP that IBKR has "
                                                    "whitelisted for this client");
        }
        if (const auto v = in_.required("IBKR_ENV")) {
            if (equals_ignoring_case(*v, "paper")) p.environment = ibkr_environment::paper;
            else if (equals_ignoring_case(*v, "live")) p.environment = ibkr_environment::live;
            else in_.problem("IBKR_ENV", in_.shown("IBKR_ENV", *v) + " must be paper or live");
        }
        if (const auto v = in_.optional("IBKR_SCOPE"); v && check_token("IBKR_SCOPE", *v)) p.scope = *v;
    }

    void load_private_key() {
        const auto inline_pem = in_.find("IBKR_PRIVATE_KEY");
        const auto key_file = in_.find("IBKR_PRIVATE_KEY_FILE");
        const auto credential = find_credential(host_.credentials_directory, private_key_credential);

        std::vector<std::string_view> sources;
        if (inline_pem && !inline_pem->empty()) sources.emplace_back("IBKR_PRIVATE_KEY");
        if (key_file && !key_file->empty()) sources.emplace_back("IBKR_PRIVATE_KEY_FILE");
        if (credential) sources.emplace_back(credential_source);

        if (sources.empty()) {
            if (inline_pem) in_.problem("IBKR_PRIVATE_KEY", "is empty");
            if (key_file) in_.problem("IBKR_PRIVATE_KEY_FILE", "is empty");
            if (!inline_pem && !key_file)
                in_.problem("IBKR_PRIVATE_KEY",
                            "missing (set IBKR_PRIVATE_KEY, IBKR_PRIVATE_KEY_FILE or the systemd credential "
                            "ibkr-private-key)");
            return;
        }
        if (sources.size() > 1) {
            std::string list(sources[0]);
            for (std::size_t i = 1; i < sources.size(); ++i)
                list += (i + 1 == sources.size() ? " and " : ", ") + std::string(sources[i]);
            in_.problem("IBKR_PRIVATE_KEY", "set in more than one place (" + list + "); keep exactly one");
            return;
        }

        if (inline_pem && !inline_pem->empty()) {
            use_key("IBKR_PRIVATE_KEY", *inline_pem, "IBKR_PRIVATE_KEY");
        } else if (key_file && !key_file->empty()) {
            const std::filesystem::path path(*key_file);
            const auto pem = read_private_file(path, max_config_file_size);
            if (!pem) return in_.problem("IBKR_PRIVATE_KEY_FILE", pem.error().message);
            if ((pem->mode & 044) != 0) {
                std::array<char, 16> octal{};
                std::snprintf(octal.data(), octal.size(), "%04o", pem->mode);
                in_.warn("IBKR_PRIVATE_KEY_FILE " + path.string() + " is readable by other users (mode " +
                         octal.data() + "); chmod 600 it");
            }
            use_key("IBKR_PRIVATE_KEY_FILE", pem->content.reveal(), "IBKR_PRIVATE_KEY_FILE (" + path.string() + ")");
        } else {
            const auto pem = read_private_file(*credential, max_config_file_size);
            if (!pem) return in_.problem(credential_variable, pem.error().message);
            use_key(credential_variable, pem->content.reveal(), std::string(credential_source));
        }
    }

    void use_key(std::string_view variable, std::string_view pem, std::string source) {
        auto key = rsa_private_key::from_pem(pem);
        if (!key) return in_.problem(variable, key.error().message);
        profile_.private_key = std::move(*key);
        profile_.private_key_source = std::move(source);
    }

    void load_endpoint() {
        if (const auto v = in_.optional("IBKR_BASE_URL")) {
            // Never quoted: a URL may carry a password or token.
            if (auto url = parse_base_url(*v)) options_.endpoint = std::move(*url);
            else in_.problem("IBKR_BASE_URL", url.error().message);
        }
        if (const auto v = in_.optional("IBKR_CA_FILE")) {
            const std::filesystem::path path(*v);
            if (const auto pem = read_private_file(path, max_config_file_size); !pem)
                in_.problem("IBKR_CA_FILE", pem.error().message);
            else if (count_pem_certificates(pem->content.reveal()) == 0)
                in_.problem("IBKR_CA_FILE", path.string() + " contains no PEM certificate");
            else options_.ca_file = path;
        }
        if (const auto b = in_.boolean("IBKR_COMPETE")) options_.compete = *b;
    }

    void load_calendar() {
        ibkr_region region = ibkr_region::new_york;
        bool no_region = false;  // IBKR_REGION=none: no maintenance windows
        if (const auto v = in_.optional("IBKR_REGION")) {
            if (equals_ignoring_case(*v, "none")) {
                no_region = true;
            } else if (const auto r = parse_region(*v)) {
                region = *r;
            } else {
                in_.problem("IBKR_REGION", in_.shown("IBKR_REGION", *v) + " is not new_york, zug, hong_kong or none");
                return;
            }
        }
        std::chrono::seconds reset_time = std::chrono::hours(1);
        if (const auto v = in_.optional("IBKR_RESET_TIME")) {
            const auto t = parse_time_of_day(*v);
            if (!t) {
                in_.problem("IBKR_RESET_TIME", in_.shown("IBKR_RESET_TIME", *v) + " " + t.error().message);
                return;
            }
            reset_time = *t;
        }
        if (no_region) return;
        auto zone = time_zone::load(zone_name(region), host_.tzdir);
        if (!zone) {
            in_.warn("IBKR_REGION=" + std::string(to_string(region)) + ": " + zone.error().message +
                     "; IBKR's maintenance windows are unknown, so failures in them count as ordinary failures");
            return;
        }
        options_.calendar = std::make_shared<const ibkr_calendar>(region, std::move(*zone), reset_time);
    }

    variable_reader& in_;
    const user_host& host_;
    ibkr_profile& profile_;
    session_options& options_;
};

}  // namespace

void load_user_rows(variable_reader& in, const user_host& host, ibkr_profile& profile, session_options& options) {
    user_rows_loader(in, host, profile, options).run();
}

void load_shared_user_rows(variable_reader& in, const user_host& host, session_options& options) {
    ibkr_profile unused;
    user_rows_loader(in, host, unused, options).run_shared();
}

std::span<const std::string_view> identity_variables() {
    static constexpr std::string_view names[] = {"IBKR_CLIENT_ID",  "IBKR_CLIENT_KEY_ID",    "IBKR_PRIVATE_KEY",
                                                 "IBKR_PRIVATE_KEY_FILE", "IBKR_CREDENTIAL", "IBKR_ACCOUNT_ID",
                                                 "IBKR_ALLOWED_IP", "IBKR_ENV",              "IBKR_SCOPE"};
    return names;
}

void load_user_identity(variable_reader& in, const user_host& host, ibkr_profile& profile) {
    session_options unused;
    user_rows_loader(in, host, profile, unused).run_identity();
}

}  // namespace sessiond
