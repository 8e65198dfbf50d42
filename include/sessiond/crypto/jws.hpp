#pragma once
// JWS compact serialization (RFC 7515) signed with RS256, as IBKR's private_key_jwt expects:
// header {"alg":"RS256","typ":"JWT","kid":...}, compact JSON, base64url without padding.

#include "sessiond/core/error.hpp"
#include "sessiond/core/secret.hpp"
#include "sessiond/crypto/rsa_key.hpp"

#include <boost/json/object.hpp>

#include <string>
#include <string_view>

namespace sessiond {

// base64url(header) "." base64url(claims): the bytes the signature covers.
std::string jws_signing_input(const boost::json::object& header, const boost::json::object& claims);

boost::json::object jws_header(std::string_view key_id);

// The whole compact JWS. It is a bearer credential, hence a secret.
expected<secret> sign_jws(const rsa_private_key& key, std::string_view key_id, const boost::json::object& claims);

}  // namespace sessiond
