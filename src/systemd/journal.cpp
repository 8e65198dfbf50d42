#include "sessiond/systemd/journal.hpp"

#include <spdlog/sinks/base_sink.h>

#include <systemd/sd-journal.h>

#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <mutex>

namespace sessiond {

namespace {

template <class T>
std::optional<T> parse_decimal(std::string_view text) {
    T value{};
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
    return value;
}

class journal_sink final : public spdlog::sinks::base_sink<std::mutex> {
public:
    journal_sink(std::string identifier, journal_writer writer)
        : identifier_(std::move(identifier)), writer_(std::move(writer)) {}

protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        const auto entry = journal_fields(msg.level, current_log_fields(),
                                          std::string_view(msg.payload.data(), msg.payload.size()), identifier_);
        // A journal that is gone (restarting journald) must not take the daemon with it; the
        // entry is lost, as a line to a closed stderr would be.
        (void)writer_(entry);
    }
    void flush_() override {}

private:
    std::string identifier_;
    journal_writer writer_;
};

}  // namespace

bool journal_stream_matches(std::string_view journal_stream, dev_t device, ino_t inode) {
    const auto colon = journal_stream.find(':');
    if (colon == std::string_view::npos) return false;
    const auto dev = parse_decimal<dev_t>(journal_stream.substr(0, colon));
    const auto ino = parse_decimal<ino_t>(journal_stream.substr(colon + 1));
    return dev && ino && *dev == device && *ino == inode;
}

bool stderr_is_journal_stream() {
    const char* value = std::getenv("JOURNAL_STREAM");
    if (value == nullptr) return false;
    struct stat st {};
    if (::fstat(STDERR_FILENO, &st) != 0) return false;
    return journal_stream_matches(value, st.st_dev, st.st_ino);
}

int syslog_priority(spdlog::level::level_enum level) {
    switch (level) {
        case spdlog::level::trace:
        case spdlog::level::debug: return 7;     // LOG_DEBUG
        case spdlog::level::info: return 6;      // LOG_INFO
        case spdlog::level::warn: return 4;      // LOG_WARNING
        case spdlog::level::err: return 3;       // LOG_ERR
        case spdlog::level::critical: return 2;  // LOG_CRIT
        case spdlog::level::off:
        case spdlog::level::n_levels: break;
    }
    return 6;
}

std::vector<std::string> journal_fields(spdlog::level::level_enum level, const log_fields& fields,
                                        std::string_view message, std::string_view identifier) {
    std::vector<std::string> out;
    out.reserve(8);
    out.push_back("MESSAGE=" + std::string(message));
    out.push_back("PRIORITY=" + std::to_string(syslog_priority(level)));
    out.push_back("SYSLOG_IDENTIFIER=" + std::string(identifier));
    visit_log_fields(fields, [&](std::string_view, std::string_view field, std::string_view value) {
        out.push_back(std::string(field) + "=" + std::string(value));
    });
    return out;
}

int send_to_journal(std::span<const std::string> fields) {
    std::vector<iovec> iov;
    iov.reserve(fields.size());
    for (const std::string& f : fields) iov.push_back(iovec{const_cast<char*>(f.data()), f.size()});
    return ::sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
}

spdlog::sink_ptr make_journal_sink(std::string identifier, journal_writer writer) {
    return make_redacting_sink(std::make_shared<journal_sink>(std::move(identifier), std::move(writer)));
}

std::shared_ptr<spdlog::logger> make_daemon_logger(std::string name, spdlog::level::level_enum level) {
    if (!stderr_is_journal_stream()) return make_stderr_logger(std::move(name), level);
    auto out = std::make_shared<spdlog::logger>(std::move(name), make_journal_sink());
    out->set_level(level);
    // Each entry is its own datagram already; nothing is buffered.
    out->flush_on(spdlog::level::trace);
    return out;
}

}  // namespace sessiond
