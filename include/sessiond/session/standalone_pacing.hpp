#pragma once
// test-connection's own login, made only when no daemon keeps the username (host/username_lock),
// kept within that username's persisted pacing record (pacing_file.hpp) like a daemon's: it is
// written before the login (a login and a validate stamped then) and corrected with the validate's
// actual start after it, so that a daemon started right after the test paces its login and validate
// from them instead of earning a 429. A login the record does not allow yet is refused, not waited
// for: a one-shot that sat silent for minutes would look hung.

#include "sessiond/config/settings.hpp"
#include "sessiond/session/pacing_file.hpp"

#include <filesystem>
#include <optional>
#include <string>

namespace sessiond {

// Pure: why a login that validates at once may not start at `now` under `record` (the login budget,
// its spacing and IBKR's validate pace, each stamp counted as having reached IBKR up to
// IBKR_HTTP_TIMEOUT later, as the daemon counts them), naming when it may; nothing when it may.
std::optional<std::string> standalone_login_refusal(const persisted_pacing& record, const session_options& o,
                                                    wall_time now);

class standalone_pacing {
public:
    // Reads the record from the state directory; without one there is nothing to keep to or write.
    // An unreadable record counts as a login and a validate made just now (written back as such).
    static standalone_pacing open(const settings& config, wall_time now);

    [[nodiscard]] std::optional<std::string> refusal(wall_time now) const;
    // Before the login: a login and a validate stamped `at`. The error names the file.
    expected<void> record_login(wall_time at);
    // After the test: when its validate actually started.
    expected<void> record_validate(wall_time at);
    // What open() had to say about the record (unreadable, leftovers removed); empty when nothing.
    [[nodiscard]] const std::string& note() const noexcept { return note_; }

private:
    standalone_pacing(session_options o, persisted_pacing record) : options_(std::move(o)), record_(std::move(record)) {}
    expected<void> save() const;

    session_options options_;
    persisted_pacing record_;
    std::optional<std::filesystem::path> path_;
    std::string note_;
};

}  // namespace sessiond
