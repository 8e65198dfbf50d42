#pragma once
// Follows a connection test (POST /api/ibkr/test) through the session's own calls and builds its
// per-step report. Pure: fed the outcomes and the machine's snapshot after each.
//
// A connected session is verified without being torn down: its login steps are reported as held
// (oauth, sso, validate) and a tickle decides "init". A session that is down runs its login flow
// now; each step is reported as the flow reaches it, and the report ends at the first failure, when
// the session is connected, or when the session halts. A validate deferred for IBKR's one-a-minute
// limit passes as such once /iserver/accounts' isPaper has confirmed paper/live; without isPaper the
// test waits for that validate (or reports that IBKR's limits do not allow it now).

#include "sessiond/session/connection_test.hpp"
#include "sessiond/session/lifecycle_machine.hpp"

#include <chrono>

namespace sessiond {

class test_tracker {
public:
    explicit test_tracker(const session_snapshot& at_start);

    // After each call the session made while the test runs. True when the report is complete.
    bool on_outcome(const step_outcome& o, const session_snapshot& after);
    // The session halted (it makes no further calls): the report ends at the step that caused it.
    void on_halted(const session_snapshot& s);
    // The next call cannot be made now (IBKR's pacing or a 429 penalty): the report ends here.
    void not_now(step next, std::chrono::milliseconds wait);
    // The daemon is stopping: the report ends here.
    void on_stopping();

    [[nodiscard]] bool verifying() const noexcept { return verifying_; }
    [[nodiscard]] bool complete() const noexcept { return complete_; }
    [[nodiscard]] const connection_test_report& report() const noexcept { return report_; }

private:
    test_step_report& line(step s);
    // Validate deferred for IBKR's minute, paper/live confirmed by isPaper: the validate line says so.
    void note_deferred_validate(const session_snapshot& s);
    bool finish();
    void fail_pending(std::string why);

    connection_test_report report_;
    bool verifying_ = false;
    bool complete_ = false;
};

}  // namespace sessiond
