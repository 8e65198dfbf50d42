#pragma once
// Makes IBKR calls for one user: builds each step's request, sends it over the user's HTTPS
// connection, classifies the answer, and keeps what the session needs between calls (the OAuth
// token until the SSO session exists, the SSO bearer, IBKR's cookies). Used by the keep-alive
// session and by the one-shot connection test, so that both speak the protocol the same way.

#include "sessiond/core/offload.hpp"
#include "sessiond/core/secret.hpp"
#include "sessiond/ibkr/outcome.hpp"
#include "sessiond/ibkr/profile.hpp"
#include "sessiond/ibkr/requests.hpp"
#include "sessiond/net/cookie_jar.hpp"
#include "sessiond/net/https_client.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

namespace sessiond {

class ibkr_client {
public:
    // Requests that carry a signature (token, SSO) are signed on `signer`'s worker, off the loop.
    // `shared`: the daemon's idle connections, where this client's waits between calls (none: kept here).
    // `profile` and `options` are usually parts of one shared settings (aliasing pointers): a session
    // keeps no copy of its own.
    ibkr_client(boost::asio::any_io_executor executor, std::shared_ptr<boost::asio::ssl::context> tls,
                std::shared_ptr<const ibkr_profile> profile, std::shared_ptr<const session_options> options,
                offload signer = {}, std::shared_ptr<idle_connections> shared = nullptr);
    // A reload's settings for the same identity (same endpoint): the next call uses them, a call in
    // flight finishes with those it started with.
    void reconfigure(std::shared_ptr<const ibkr_profile> profile, std::shared_ptr<const session_options> options) {
        profile_ = std::move(profile);
        options_ = std::move(options);
    }

    // Step oauth starts a new login: every token and cookie of the previous one is dropped first.
    // timeout 0 means the configured IBKR_HTTP_TIMEOUT.
    boost::asio::awaitable<step_outcome> call(step s, bool compete = true,
                                              std::chrono::milliseconds timeout = std::chrono::milliseconds(0));

    // Asked, once a login's request (token or SSO) is signed, when it may go on the wire (the
    // daemon-wide login rate, username_pacer::claim_login_send); without one it goes at once. A token
    // request held so long that its assertion (20 s) grew old is signed again.
    using login_gate = std::function<std::chrono::system_clock::time_point(step, std::chrono::system_clock::time_point)>;
    void gate_logins(login_gate gate) { login_gate_ = std::move(gate); }

    // Several replicas (replica/): asked before every request goes on the wire and before the gateway
    // authorizes one; false means this daemon may no longer act for the user (its lease is not usable
    // by its own clock) and nothing is sent. Without one, every request may go.
    using call_permit = std::function<bool()>;
    void fence(call_permit permit) { permit_ = std::move(permit); }
    [[nodiscard]] bool permitted() const { return !permit_ || permit_(); }

    [[nodiscard]] bool has_sso_session() const noexcept { return !sso_bearer_.empty(); }
    // A request the gateway forwards gets the SSO bearer and IBKR's cookies; false without an SSO session.
    bool authorize(http_request& req) const;
    // IBKR's Set-Cookie on a forwarded call belongs to the session, not to the client.
    void keep_cookies(const http_response& res) { cookies_.store(res); }
    // What IBKR's WebSocket upgrade needs: the SSO bearer (?bearer_token=), the last tickle's
    // "session" (cookie api=...) and IBKR's cookies. Empty secrets without an SSO session.
    [[nodiscard]] const secret& sso_bearer() const noexcept { return sso_bearer_; }
    [[nodiscard]] const secret& tickle_session() const noexcept { return tickle_session_; }
    [[nodiscard]] secret cookie_header() const { return cookies_.header(); }
    // Grows with every new SSO session (a WebSocket opened with an older one must reconnect).
    [[nodiscard]] std::uint64_t sso_generation() const noexcept { return sso_generation_; }
    // Wipes the tokens and cookies (after logout, or when the session is known dead).
    void forget_session() noexcept;
    // Aborts the call in flight, a signature still being made included (its request is then not sent).
    void cancel() {
        cancelled_ = true;
        if (gate_wait_ != nullptr) gate_wait_->cancel();
        http_.cancel();
    }
    void close() noexcept { http_.close(); }
    [[nodiscard]] const https_client& connection() const noexcept { return http_; }

private:
    boost::asio::awaitable<expected<http_request>> prepare(step s, const request_context& ctx);

    boost::asio::any_io_executor executor_;
    std::shared_ptr<const ibkr_profile> profile_;
    std::shared_ptr<const session_options> options_;
    login_gate login_gate_;
    call_permit permit_;
    boost::asio::steady_timer* gate_wait_ = nullptr;  // while a signed token request waits its turn
    offload signer_;
    https_client http_;
    cookie_jar cookies_;
    secret oauth_token_;
    secret sso_bearer_;
    secret tickle_session_;
    std::uint64_t sso_generation_ = 0;
    bool cancelled_ = false;
};

}  // namespace sessiond
