#pragma once
// The body of PUT /api/users/{id}/ibkr-credentials (users/credential_request.hpp). Any bytes give
// either a profile whose every field is set and whose key is RSA of at least 2048 bits, or problems:
// each names a field of the body (or none, for the body as a whole) and is one line of UTF-8 without
// control bytes (a value is quoted as the body's JSON gave it, which Boost.JSON checked is UTF-8) that
// never quotes a private key's PEM or the body's username.

#include "check.hpp"

#include "sessiond/users/credential_request.hpp"

#include <string>
#include <string_view>

namespace sessiond::fuzz {

inline std::string credential_request(std::string_view input) {
    const auto c = check_credential_request(input);
    if (c.profile && !c.problems.empty()) return "a profile and problems at once";
    if (!c.profile && c.problems.empty()) return "neither a profile nor a problem";
    if (c.profile) {
        const auto& p = *c.profile;
        if (p.client_id.empty() || p.client_key_id.empty() || p.credential.empty() || p.account_id.empty() ||
            p.allowed_ip.empty() || !p.environment)
            return "a profile with an empty field";
        if (!p.private_key || p.private_key->bits() < 2048) return "a profile without a key of 2048 bits or more";
        return {};
    }
    for (const auto& problem : c.problems) {
        bool known = problem.field.empty();
        for (const auto& f : credential_fields()) known = known || f.field == problem.field;
        if (!known) return "a problem names a field that is not one: " + problem.field;
        if (auto bad = check_quoting_line("problem", problem.message, 400); !bad.empty()) return bad;
        if (problem.message.find("PRIVATE KEY-----") != std::string::npos) return "a problem quotes a PEM line";
    }
    return {};
}

}  // namespace sessiond::fuzz
