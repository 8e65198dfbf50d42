#include "sessiond/ibkr/ibkr_client.hpp"

#include "sessiond/ibkr/claims.hpp"
#include "sessiond/ibkr/requests.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/field.hpp>

namespace sessiond {

namespace asio = boost::asio;
using std::chrono::milliseconds;

ibkr_client::ibkr_client(asio::any_io_executor executor, std::shared_ptr<asio::ssl::context> tls,
                         std::shared_ptr<const ibkr_profile> profile, std::shared_ptr<const session_options> options,
                         offload signer, std::shared_ptr<idle_connections> shared)
    : executor_(executor),
      profile_(std::move(profile)),
      options_(std::move(options)),
      signer_(std::move(signer)),
      http_(std::move(executor), std::move(tls), options_->endpoint, https_client::max_response_body, std::move(shared)) {}

void ibkr_client::forget_session() noexcept {
    oauth_token_.clear();
    sso_bearer_.clear();
    tickle_session_.clear();
    cookies_.clear();
}

namespace {
constexpr const char* fenced_detail =
    "not sent: this daemon's lease on the user is no longer usable (another replica may hold it)";
}  // namespace

bool ibkr_client::authorize(http_request& req) const {
    if (sso_bearer_.empty() || !permitted()) return false;
    set_bearer(req, sso_bearer_);
    if (const secret cookie = cookies_.header(); !cookie.empty())
        req.set(boost::beast::http::field::cookie, cookie.reveal());
    return true;
}

asio::awaitable<expected<http_request>> ibkr_client::prepare(step s, const request_context& ctx) {
    if (!is_login_step(s)) co_return build_request(s, ctx);
    // The token and SSO requests carry an RSA signature: about a millisecond of CPU, off the loop.
    // The endpoint goes along as a copy: a reload may apply new options on the loop meanwhile
    // (ThreadSanitizer saw that race once multi-user mode reconciled often). The assertion's iat and
    // exp are stamped when it is signed, not when the job was queued: behind many sessions' pacing
    // saves on a slow disk, the wait for the worker once outlasted the assertion's 20 s (IBKR: 401,
    // "client assertion has expired").
    auto sign = [&s, &ctx, endpoint = ctx.endpoint] {
        const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
        return build_request(s, request_context{ctx.profile, endpoint, now, ctx.oauth_token, ctx.sso_bearer,
                                                ctx.compete});
    };
    auto signed_request = co_await signer_.run(std::move(sign));
    co_return signed_request;
}

asio::awaitable<step_outcome> ibkr_client::call(step s, bool compete, milliseconds timeout) {
    cancelled_ = false;
    if (!permitted()) co_return failed_outcome(s, failure::cancelled, fenced_detail);
    if (s == step::oauth) forget_session();
    // This call's own references: a reload that reconfigures the client meanwhile frees nothing it uses.
    const std::shared_ptr<const ibkr_profile> profile = profile_;
    const std::shared_ptr<const session_options> options = options_;
    if (timeout <= milliseconds(0)) timeout = std::chrono::duration_cast<milliseconds>(options->http_timeout);

    const request_context ctx{*profile,
                              options->endpoint,
                              std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()),
                              oauth_token_.empty() ? nullptr : &oauth_token_,
                              sso_bearer_.empty() ? nullptr : &sso_bearer_,
                              compete};
    auto request = co_await prepare(s, ctx);
    // A login's signed request waits for its turn on the wire, claimed once (plan_login_send): a token
    // request whose turn is far off is signed again shortly before it.
    if (request && login_gate_ && is_login_step(s) && !cancelled_) {
        const auto signed_at = std::chrono::system_clock::now();
        const login_send_plan plan = plan_login_send(s == step::oauth, signed_at, login_gate_(s, signed_at));
        auto wait_until = [this](std::chrono::system_clock::time_point at) -> asio::awaitable<void> {
            const auto now = std::chrono::system_clock::now();
            if (at <= now || cancelled_) co_return;
            asio::steady_timer turn(executor_, std::chrono::ceil<milliseconds>(at - now));
            gate_wait_ = &turn;
            (void)co_await turn.async_wait(asio::as_tuple(asio::use_awaitable));
            gate_wait_ = nullptr;
        };
        if (plan.sign_again_at) {
            co_await wait_until(*plan.sign_again_at);
            if (!cancelled_) request = co_await prepare(s, ctx);
        }
        co_await wait_until(plan.send_at);
    }
    if (cancelled_) co_return failed_outcome(s, failure::cancelled, "cancelled before the request was sent");
    // Checked last, right before the send: a signature or a login slot may have been waited for.
    if (!permitted()) co_return failed_outcome(s, failure::cancelled, fenced_detail);
    if (!request) co_return failed_outcome(s, failure::bad_response, "cannot build the request: " + request.error().message);
    if (!is_login_step(s)) {
        if (const secret cookie = cookies_.header(); !cookie.empty())
            request->set(boost::beast::http::field::cookie, cookie.reveal());
    }

    const auto started = std::chrono::steady_clock::now();
    auto response = co_await http_.send(std::move(*request), timeout);
    const auto took = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - started);
    if (!response) {
        step_outcome failed = failed_outcome(s, to_failure(response.error().kind), std::move(response.error().detail));
        failed.duration = took;
        co_return failed;
    }
    cookies_.store(*response);
    step_outcome outcome = interpret_response(s, *response, std::chrono::system_clock::now());
    wipe(response->body());
    outcome.duration = took;
    if (outcome.token) {
        oauth_token_ = std::move(outcome.token->access_token);
        outcome.token.reset();
    }
    if (outcome.tickle && !outcome.tickle->session.empty()) tickle_session_ = std::move(outcome.tickle->session);
    if (outcome.sso) {
        ++sso_generation_;
        sso_bearer_ = std::move(outcome.sso->access_token);
        oauth_token_.clear();  // only needed to open the SSO session
        outcome.sso.reset();
    }
    // After a logout, or a 401 on the SSO bearer, nothing of this session is usable any more.
    if ((s == step::logout && outcome.ok()) || (!is_login_step(s) && outcome.kind == failure::unauthorized))
        forget_session();
    co_return outcome;
}

}  // namespace sessiond
