#pragma once
// Which replica holds each IBKR username, and when another acted on it anyway: the record tests read
// to prove that no two replicas of the daemon ever act on one username's session at once. Pure
// bookkeeping: the model says who logged in and who made a request, this decides what overlaps.
//
// A replica is told apart by its User-Agent (each sends its own). The holder of a username is the
// agent whose login opened its newest SSO session; it stays the holder after that session ends
// (expiry, logout, the nightly reset) until another login replaces it, so a replica that keeps
// tickling a session that expired under it still counts. A login itself is never an overlap: it is
// how a replica takes a username over.

#include "ibkr_sim/sim_types.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sessiond::sim {

struct replica_overlap {
    std::string user;          // the IBKR username
    std::string agent;         // the request's User-Agent ("" when it sent none)
    std::string holder;        // the User-Agent of the login that opened the user's newest SSO session
    std::string path;          // without the query (a WebSocket upgrade carries its bearer there)
    std::int64_t at_ms = 0;    // the simulator's wall clock, milliseconds since the epoch
};

class replica_overlaps {
public:
    // The first overlaps are kept (the first is the one that explains the rest); later ones are only
    // counted, so that a test running into a storm of them cannot grow the simulator without bound.
    static constexpr std::size_t max_records = 100;

    // `agent`'s login opened `user`'s newest SSO session: from now on it holds the user.
    void session_opened(std::string_view user, std::string_view agent);
    // A request by `agent` on `user`'s behalf (not a login). True, and recorded, when another agent
    // holds the user; false when `agent` holds it or nobody ever opened a session for it.
    bool acted(std::string_view user, std::string_view agent, std::string_view path, wall_time now);

    [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
    [[nodiscard]] const std::vector<replica_overlap>& records() const noexcept { return records_; }
    [[nodiscard]] std::optional<std::string_view> holder(std::string_view user) const;

    // {"count":N,"overlaps":[{"user","agent","holder","path","at_ms"}]}, the first max_records, oldest first.
    [[nodiscard]] boost::json::object overlaps_json() const;
    // {"holders":{"<username>":"<agent>"}}: every user some login opened an SSO session for.
    [[nodiscard]] boost::json::object holders_json() const;

private:
    // One entry per username that ever had an SSO session: bounded by the configured users.
    std::map<std::string, std::string, std::less<>> holders_;
    std::vector<replica_overlap> records_;
    std::uint64_t count_ = 0;
};

}  // namespace sessiond::sim
