#pragma once
// Native journal entries when systemd captures stderr: the message, its priority, and the log
// fields as journal fields, so that
//
//   journalctl -u ibkr-sessiond IBKR_STATE=reconnecting
//   journalctl -u ibkr-sessiond -p warning
//
// work. Outside the journal the daemon keeps writing human-readable lines to stderr.
//
//   log_fields      journal field
//   session         IBKR_SESSION
//   state           IBKR_STATE
//   step            IBKR_STEP
//   http_status     IBKR_HTTP_STATUS   (when not 0)
//   attempt         IBKR_ATTEMPT       (when not 0)

#include "sessiond/log/log.hpp"

#include <spdlog/common.h>

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>

namespace sessiond {

inline constexpr std::string_view journal_identifier = "ibkr-sessiond";

// True when $JOURNAL_STREAM ("DEVICE:INODE", set by systemd for StandardError=journal) names the
// file stderr is open on, as sd_journal_print(3) and systemd.exec(5) describe. A child that
// inherited the variable but not the stream sees false.
bool stderr_is_journal_stream();

// The pure half: whether a $JOURNAL_STREAM value names the file with this device and inode.
bool journal_stream_matches(std::string_view journal_stream, dev_t device, ino_t inode);

// syslog priority for a spdlog level: trace and debug 7, info 6, warn 4, err 3, critical 2
// (off, never logged, 6).
int syslog_priority(spdlog::level::level_enum level);

// The journal entry for one log line, as "FIELD=value" strings: MESSAGE, PRIORITY,
// SYSLOG_IDENTIFIER, then the IBKR_* fields that are set. Values are taken as they are (the
// journal protocol carries newlines and binary data); redaction happens before, in the sink.
std::vector<std::string> journal_fields(spdlog::level::level_enum level, const log_fields& fields,
                                        std::string_view message, std::string_view identifier);

// Writes one entry; returns 0 or a negative errno, like sd_journal_sendv(3).
using journal_writer = std::function<int(std::span<const std::string> fields)>;

// sd_journal_sendv(3): a datagram to /run/systemd/journal/socket.
int send_to_journal(std::span<const std::string> fields);

// A spdlog sink writing each line as a journal entry with journal_fields() of the message and
// current_log_fields(), wrapped in make_redacting_sink so that message and fields are redacted.
// `writer` is a seam for tests; the default sends to the journal.
spdlog::sink_ptr make_journal_sink(std::string identifier = std::string(journal_identifier),
                                   journal_writer writer = send_to_journal);

// The daemon's logger: journal entries when stderr_is_journal_stream(), otherwise
// make_stderr_logger's lines. Redacted either way.
std::shared_ptr<spdlog::logger> make_daemon_logger(std::string name, spdlog::level::level_enum level);

}  // namespace sessiond
