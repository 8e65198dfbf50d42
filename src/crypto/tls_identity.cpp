#include "sessiond/crypto/tls_identity.hpp"

#include "sessiond/core/text_file.hpp"

#include <boost/asio/ip/address.hpp>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <memory>

namespace sessiond {

namespace {

struct pkey_free { void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); } };
struct x509_free { void operator()(X509* x) const { X509_free(x); } };
struct bio_free { void operator()(BIO* b) const { BIO_free(b); } };
struct bn_free { void operator()(BIGNUM* b) const { BN_free(b); } };
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;
using x509_ptr = std::unique_ptr<X509, x509_free>;
using bio_ptr = std::unique_ptr<BIO, bio_free>;

constexpr long backdate_seconds = 3600;  // tolerate a client clock slightly behind ours

template <class Write>
std::string to_pem(Write write) {
    bio_ptr bio(BIO_new(BIO_s_mem()));
    if (!bio || write(bio.get()) != 1) return {};
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(len));
}

bool add_extension(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    if (ext == nullptr) return false;
    const bool ok = X509_add_ext(cert, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

// A certificate for key, named cn, signed by issuer_key (issuer == nullptr: self-signed).
x509_ptr make_certificate(EVP_PKEY* key, const std::string& cn, X509* issuer, EVP_PKEY* issuer_key, long validity_seconds,
                          const std::vector<std::pair<int, std::string>>& extensions) {
    x509_ptr cert(X509_new());
    std::unique_ptr<BIGNUM, bn_free> serial(BN_new());
    if (!cert || !serial || X509_set_version(cert.get(), 2) != 1 ||
        BN_rand(serial.get(), 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
        BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr)
        return nullptr;
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -backdate_seconds);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), validity_seconds);
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    X509* signer = issuer != nullptr ? issuer : cert.get();
    if (X509_set_issuer_name(cert.get(), X509_get_subject_name(signer)) != 1 || X509_set_pubkey(cert.get(), key) != 1)
        return nullptr;
    for (const auto& [nid, value] : extensions)
        if (!add_extension(cert.get(), signer, nid, value.c_str())) return nullptr;
    if (X509_sign(cert.get(), issuer_key, EVP_sha256()) == 0) return nullptr;
    return cert;
}

std::string subject_alt_names(const std::optional<std::string>& host) {
    if (!host) return "DNS:localhost,IP:127.0.0.1,IP:::1";
    boost::system::error_code ec;
    boost::asio::ip::make_address(*host, ec);
    return (ec ? "DNS:" : "IP:") + *host;
}

// True when the first certificate of `chain_pem` is still valid `margin` from now.
bool valid_for(const std::string& chain_pem, std::chrono::seconds margin) {
    bio_ptr bio(BIO_new_mem_buf(chain_pem.data(), static_cast<int>(chain_pem.size())));
    x509_ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
    ERR_clear_error();
    if (!cert) return false;
    time_t when = std::time(nullptr) + static_cast<time_t>(margin.count());
    return X509_cmp_time(X509_get0_notAfter(cert.get()), &when) > 0;
}

}  // namespace

expected<tls_identity> generate_tls_identity(const tls_identity_options& options) {
    const std::optional<std::string>& host = options.host;
    const long validity_seconds = static_cast<long>(options.validity.count());
    pkey_ptr ca_key(EVP_EC_gen("P-256"));
    pkey_ptr server_key(EVP_EC_gen("P-256"));
    if (!ca_key || !server_key) return make_error("EC P-256 key generation failed");
    x509_ptr ca = make_certificate(ca_key.get(), options.ca_name, nullptr, ca_key.get(), validity_seconds,
                                   {{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                                    {NID_key_usage, "critical,keyCertSign,cRLSign"},
                                    {NID_subject_key_identifier, "hash"}});
    if (!ca) return make_error("cannot create the CA certificate");
    x509_ptr server = make_certificate(server_key.get(), host.value_or("localhost"), ca.get(), ca_key.get(), validity_seconds,
                                       {{NID_basic_constraints, "critical,CA:FALSE"},
                                        {NID_key_usage, "critical,digitalSignature"},
                                        {NID_ext_key_usage, "serverAuth"},
                                        {NID_subject_key_identifier, "hash"},
                                        {NID_authority_key_identifier, "keyid:always"},
                                        {NID_subject_alt_name, subject_alt_names(host)}});
    ERR_clear_error();
    if (!server) return make_error("cannot create the server certificate");
    tls_identity id;
    id.ca_pem = to_pem([&](BIO* b) { return PEM_write_bio_X509(b, ca.get()); });
    id.cert_chain_pem = to_pem([&](BIO* b) { return PEM_write_bio_X509(b, server.get()); }) + id.ca_pem;
    id.key_pem = to_pem([&](BIO* b) {
        return PEM_write_bio_PKCS8PrivateKey(b, server_key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    });
    return id;
}

expected<tls_identity> load_tls_identity(const std::filesystem::path& cert, const std::filesystem::path& key) {
    auto chain = read_text_file(cert);
    if (!chain) return chain.error();
    auto key_pem = read_text_file(key);
    if (!key_pem) return key_pem.error();
    return tls_identity{std::move(*chain), std::move(*key_pem), {}};
}

expected<tls_identity> load_or_create_tls_identity(const std::filesystem::path& dir, const tls_identity_options& options,
                                                   bool* created) {
    if (created != nullptr) *created = false;
    const auto ca = dir / "ca.pem";
    const auto cert = dir / "server-cert.pem";
    const auto key = dir / "server-key.pem";
    std::error_code ec;
    if (std::filesystem::exists(ca, ec) && std::filesystem::exists(cert, ec) && std::filesystem::exists(key, ec)) {
        auto id = load_tls_identity(cert, key);
        if (!id) return id;
        auto ca_pem = read_text_file(ca);
        if (!ca_pem) return ca_pem.error();
        id->ca_pem = std::move(*ca_pem);
        if (options.renew_before.count() == 0 || valid_for(id->cert_chain_pem, options.renew_before)) return id;
    }
    std::filesystem::create_directories(dir, ec);
    if (ec) return make_error("cannot create " + dir.string() + ": " + ec.message());
    auto id = generate_tls_identity(options);
    if (!id) return id;
    if (created != nullptr) *created = true;
    for (const auto& [path, content, mode] : {std::tuple{key, &id->key_pem, 0600}, std::tuple{cert, &id->cert_chain_pem, 0644},
                                              std::tuple{ca, &id->ca_pem, 0644}}) {
        auto written = write_text_file(path, *content, static_cast<mode_t>(mode));
        if (!written) return written.error();
    }
    return id;
}

expected<boost::asio::ssl::context> make_server_context(const tls_identity& identity) {
    namespace ssl = boost::asio::ssl;
    ssl::context ctx(ssl::context::tls_server);
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                    ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
    if (SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION) != 1)
        return make_error("cannot require TLS 1.2");
    boost::system::error_code ec;
    ctx.use_certificate_chain(boost::asio::buffer(identity.cert_chain_pem), ec);
    if (ec) return make_error("the TLS certificate chain does not load: " + ec.message());
    ctx.use_private_key(boost::asio::buffer(identity.key_pem), ssl::context::pem, ec);
    if (ec) return make_error("the TLS private key does not load: " + ec.message());
    if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
        ERR_clear_error();
        return make_error("the TLS private key does not match the certificate");
    }
    return ctx;
}

}  // namespace sessiond
