#pragma once
// base64url (RFC 4648 section 5) without padding, as JWS compact serialization uses it.

#include "sessiond/core/error.hpp"

#include <string>
#include <string_view>

namespace sessiond {

std::string base64url_encode(std::string_view bytes);

// Accepts unpadded input (and tolerates trailing '=' padding); rejects any other character,
// and lengths that cannot come from an encoder.
expected<std::string> base64url_decode(std::string_view text);

}  // namespace sessiond
