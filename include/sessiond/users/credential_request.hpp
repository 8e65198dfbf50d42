#pragma once
// The body of PUT /api/users/{id}/ibkr-credentials in multi-user mode, checked by the rules of
// single-user mode's variables, field by field: each field is read as the variable it stands for
// (client_id as IBKR_CLIENT_ID, private_key as IBKR_PRIVATE_KEY, ...) through load_user_identity(),
// so that a value the env file would refuse is refused here with the same words, under the field's
// name. Pure: no I/O, no IBKR call (proving the key against IBKR is the caller's next step).
//
// Problems never quote the private key or the username, whichever field they were pasted into.

#include "sessiond/ibkr/profile.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sessiond {

// A request body bigger than this is refused before it is parsed (a 4096-bit PKCS#8 PEM is ~3.3 KiB).
inline constexpr std::size_t max_credential_request_size = 64 * 1024;

struct credential_field_problem {
    std::string field;    // "private_key", "allowed_ip"; "" for the body as a whole
    std::string message;  // e.g. "missing", "is not an IP address; ..."
};

struct credential_request_check {
    std::optional<ibkr_profile> profile;  // every field valid: the identity with its parsed key
    std::vector<credential_field_problem> problems;  // otherwise every problem, body order then field order
};

// The fields a body may have, in the order problems are reported, with the variable each stands for.
struct credential_field {
    std::string_view field;
    std::string_view variable;
    bool required;
};
const std::vector<credential_field>& credential_fields();

credential_request_check check_credential_request(std::string_view body);

}  // namespace sessiond
