#pragma once
// Faults the control API queues for the next matching requests or connections: what a flaky IBKR,
// a proxy or a network does (errors, hangs, resets, garbage, truncation, slowness).

#include "ibkr_sim/sim_config.hpp"

#include "sessiond/core/error.hpp"

#include <deque>
#include <optional>
#include <string>
#include <string_view>

namespace sessiond::sim {

enum class fault_action { status, hang, reset, garbage, truncate, content_type, body, delay };
std::string_view to_string(fault_action a) noexcept;

// The pseudo path whose faults apply to accepted connections before the TLS handshake.
inline constexpr std::string_view handshake_path = "handshake";

struct fault {
    std::string path;      // an exact request path, "*" (any request) or "handshake"
    int count = 1;         // matching requests (or connections) left; -1 = until cleared
    fault_action action = fault_action::status;
    unsigned status = 503;                  // action status
    std::optional<unsigned> retry_after;    // action status: Retry-After seconds
    std::optional<std::string> body;        // action status (optional) and body (required)
    sim_duration delay{};                   // action delay
};

// {"path":..,"action":..,"count":..,"status":..,"retry_after":..,"body":..,"delay_ms":..}.
// Strict: unknown fields, fields that do not apply to the action and wrong types are errors that
// name the field.
expected<fault> parse_fault(std::string_view json);

class fault_injector {
public:
    static constexpr std::size_t max_pending = 1024;

    // False when max_pending faults are already queued.
    bool add(fault f);
    void clear() noexcept { faults_.clear(); }

    // The fault the next request to path meets: the oldest queued for that path or "*". One use is
    // consumed; the fault leaves the queue when its count runs out.
    std::optional<fault> take(std::string_view path);
    // The same for a newly accepted connection (faults queued for "handshake").
    std::optional<fault> take_handshake() { return take_matching(handshake_path, false); }

    [[nodiscard]] std::size_t pending() const noexcept { return faults_.size(); }

private:
    std::optional<fault> take_matching(std::string_view path, bool wildcard);
    std::deque<fault> faults_;
};

}  // namespace sessiond::sim
