#include "sessiond/crypto/jws.hpp"

#include "sessiond/crypto/base64url.hpp"

#include <boost/json/serialize.hpp>

namespace sessiond {

boost::json::object jws_header(std::string_view key_id) {
    return {{"alg", "RS256"}, {"typ", "JWT"}, {"kid", key_id}};
}

std::string jws_signing_input(const boost::json::object& header, const boost::json::object& claims) {
    return base64url_encode(boost::json::serialize(header)) + "." + base64url_encode(boost::json::serialize(claims));
}

expected<secret> sign_jws(const rsa_private_key& key, std::string_view key_id, const boost::json::object& claims) {
    std::string input = jws_signing_input(jws_header(key_id), claims);
    auto signature = sign_rs256(key, input);
    if (!signature) return signature.error();
    input += '.';
    input += base64url_encode(*signature);
    secret jws(std::move(input));
    return jws;
}

}  // namespace sessiond
