#pragma once
// Logging for the daemon: spdlog underneath, every line redacted, and each line carrying the
// structured fields (session, lifecycle state, step, IBKR HTTP status, attempt) that a journal sink
// stores as fields and the stderr sink prints as key=value pairs.
//
// The message that spdlog sees is the bare message; the fields travel beside it, in
// current_log_fields(), for the duration of the call. Text sinks print them with the %* pattern
// flag (see make_line_formatter), the journal sink (systemd/journal.hpp) stores them as IBKR_*
// fields.

#include <spdlog/formatter.h>
#include <spdlog/logger.h>

#include <memory>
#include <string>
#include <string_view>

namespace sessiond {

struct log_fields {
    std::string_view session{};  // which session (user) this is about; empty for the daemon itself
    std::string_view state{};    // lifecycle state name
    std::string_view step{};     // IBKR step name
    int http_status = 0;       // 0 when there was no HTTP response
    int attempt = 0;           // 0 when not part of a retried sequence
};

// Calls visit(line_key, journal_field, value) for each field that is set, in a fixed order: the one
// list that both the stderr line ("http=503") and the journal entry ("IBKR_HTTP_STATUS=503") follow.
template <class Visit>
void visit_log_fields(const log_fields& f, Visit&& visit) {
    auto text = [&](std::string_view key, std::string_view field, std::string_view value) {
        if (!value.empty()) visit(key, field, value);
    };
    auto number = [&](std::string_view key, std::string_view field, int value) {
        if (value != 0) visit(key, field, std::string_view(std::to_string(value)));
    };
    text("session", "IBKR_SESSION", f.session);
    text("state", "IBKR_STATE", f.state);
    text("step", "IBKR_STEP", f.step);
    number("http", "IBKR_HTTP_STATUS", f.http_status);
    number("attempt", "IBKR_ATTEMPT", f.attempt);
}

// The fields of the log call in progress (one event loop: a plain thread_local suffices).
const log_fields& current_log_fields() noexcept;

// "state=connected step=tickle http=200 attempt=2" for the fields that are set.
std::string format_log_fields(const log_fields& fields);

// In a pattern given to make_line_formatter, "%*" renders " | " followed by format_log_fields() of
// the call in progress, or nothing when no field is set.
inline constexpr char log_fields_flag = '*';

// A spdlog pattern formatter that knows the %* flag. spdlog::logger::set_pattern() does not: give
// this to set_formatter() instead.
std::unique_ptr<spdlog::formatter> make_line_formatter(std::string pattern);

class logger {
public:
    logger() = default;
    logger(std::shared_ptr<spdlog::logger> impl, std::string session) : impl_(std::move(impl)), session_(std::move(session)) {}

    [[nodiscard]] std::string_view session() const noexcept { return session_; }
    [[nodiscard]] const std::shared_ptr<spdlog::logger>& impl() const noexcept { return impl_; }
    [[nodiscard]] bool enabled(spdlog::level::level_enum level) const { return impl_ && impl_->should_log(level); }

    // spdlog receives the bare message; sinks find the fields (session defaulting to this logger's)
    // in current_log_fields() while they write.
    void log(spdlog::level::level_enum level, log_fields fields, std::string_view message) const;

    template <class... Args>
    void debug(log_fields f, fmt::format_string<Args...> fmt, Args&&... args) const {
        if (enabled(spdlog::level::debug)) log(spdlog::level::debug, f, fmt::format(fmt, std::forward<Args>(args)...));
    }
    template <class... Args>
    void info(log_fields f, fmt::format_string<Args...> fmt, Args&&... args) const {
        if (enabled(spdlog::level::info)) log(spdlog::level::info, f, fmt::format(fmt, std::forward<Args>(args)...));
    }
    template <class... Args>
    void warn(log_fields f, fmt::format_string<Args...> fmt, Args&&... args) const {
        if (enabled(spdlog::level::warn)) log(spdlog::level::warn, f, fmt::format(fmt, std::forward<Args>(args)...));
    }
    template <class... Args>
    void error(log_fields f, fmt::format_string<Args...> fmt, Args&&... args) const {
        if (enabled(spdlog::level::err)) log(spdlog::level::err, f, fmt::format(fmt, std::forward<Args>(args)...));
    }

private:
    std::shared_ptr<spdlog::logger> impl_;
    std::string session_;
};

// A logger writing human-readable lines to stderr, every line redacted:
// "2026-01-02T03:04:05.678+0000 info  message | session=U1 state=connected step=tickle http=200".
std::shared_ptr<spdlog::logger> make_stderr_logger(std::string name, spdlog::level::level_enum level);

// Wraps any sink so that what reaches it has passed through redact(): the message, and the fields
// the inner sink reads from current_log_fields() while it writes.
spdlog::sink_ptr make_redacting_sink(spdlog::sink_ptr inner);

}  // namespace sessiond
