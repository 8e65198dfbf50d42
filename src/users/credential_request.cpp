#include "sessiond/users/credential_request.hpp"

#include "sessiond/config/user_rows.hpp"
#include "sessiond/config/variable_reader.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <map>

namespace sessiond {

namespace json = boost::json;

const std::vector<credential_field>& credential_fields() {
    static const std::vector<credential_field> fields{
        {"client_id", "IBKR_CLIENT_ID", true},        {"client_key_id", "IBKR_CLIENT_KEY_ID", true},
        {"private_key", "IBKR_PRIVATE_KEY", true},    {"credential", "IBKR_CREDENTIAL", true},
        {"account_id", "IBKR_ACCOUNT_ID", true},      {"allowed_ip", "IBKR_ALLOWED_IP", true},
        {"environment", "IBKR_ENV", true},            {"scope", "IBKR_SCOPE", false},
    };
    return fields;
}

namespace {

std::string field_list() {
    std::string out;
    for (const auto& f : credential_fields()) {
        if (!out.empty()) out += ", ";
        out += f.field;
    }
    return out;
}

// The field a variable's problem belongs to ("" when the loader named none of ours).
std::string_view field_of(std::string_view variable) {
    for (const auto& f : credential_fields())
        if (f.variable == variable) return f.field;
    return {};
}

}  // namespace

credential_request_check check_credential_request(std::string_view body) {
    credential_request_check out;
    if (body.size() > max_credential_request_size) {
        out.problems.push_back({"", "the body is larger than " + std::to_string(max_credential_request_size / 1024) +
                                        " KiB; an IBKR credential is a few KiB"});
        return out;
    }
    boost::system::error_code ec;
    const json::value parsed = json::parse(body, ec);
    if (ec || !parsed.is_object()) {
        out.problems.push_back({"", "the body must be a JSON object with the fields " + field_list()});
        return out;
    }

    // The fields as the variables they stand for; the body keeps the storage alive meanwhile.
    configured_values values;
    for (const auto& item : parsed.as_object()) {
        // Named, not a structured binding: clang 14 (the fuzz build) cannot capture one in a lambda.
        const std::string_view key = item.key();
        const boost::json::value& value = item.value();
        const auto known = std::find_if(credential_fields().begin(), credential_fields().end(),
                                        [key](const credential_field& f) { return f.field == key; });
        if (known == credential_fields().end()) {
            // Never quoted: a key pasted as a field name would be shown.
            out.problems.push_back({"", "a field is not one of an IBKR credential (" + field_list() + ")"});
            continue;
        }
        if (value.is_null() && !known->required) continue;
        if (!value.is_string()) {
            out.problems.push_back({std::string(known->field), "must be a string"});
            continue;
        }
        const std::string_view text(value.get_string());
        values.values[known->variable] = text;
        // Whatever field it sits in, a key or a username is never quoted back.
        if (known->variable == "IBKR_PRIVATE_KEY" || known->variable == "IBKR_CREDENTIAL")
            values.secret_values.push_back(text);
    }
    std::vector<config_problem> problems;
    std::vector<std::string> warnings;
    variable_reader in(values, problems, warnings);
    ibkr_profile profile;
    load_user_identity(in, user_host{}, profile);
    for (auto& p : problems) {
        const std::string_view field = field_of(p.variable);
        // A field already refused for its type is not also "missing".
        if (!field.empty() && std::any_of(out.problems.begin(), out.problems.end(),
                                          [&](const credential_field_problem& q) { return q.field == field; }))
            continue;
        std::string message = std::move(p.message);
        // The loader's words name the variable's other sources; a body has only its field.
        if (field == "private_key" && message.starts_with("missing")) message = "missing";
        out.problems.push_back({std::string(field), std::move(message)});
    }
    if (out.problems.empty()) {
        profile.private_key_source = "the user's stored credential";
        out.profile = std::move(profile);
    }
    return out;
}

}  // namespace sessiond
