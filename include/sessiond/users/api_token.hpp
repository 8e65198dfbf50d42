#pragma once
// A user's API token in multi-user mode: what that user presents to reach their own resources and
// their own gateway session. 32 random bytes from OpenSSL's generator, base64url, behind a prefix
// that makes a leaked token recognisable to secret scanners. It is shown once, when issued, and
// stored only as its SHA-256: 256 bits of randomness need no slow hash, and a lookup by hash needs
// no comparison of secrets at all.

#include "sessiond/core/secret.hpp"
#include "sessiond/store/database.hpp"

#include <string_view>

namespace sessiond {

inline constexpr std::string_view api_token_prefix = "isd_";

secret issue_api_token();
byte_string api_token_hash(std::string_view token);

}  // namespace sessiond
