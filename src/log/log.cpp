#include "sessiond/log/log.hpp"

#include "sessiond/log/redact.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <mutex>

namespace sessiond {

namespace {

thread_local log_fields current_fields{};

// Makes `fields` the current ones until the end of the scope, then puts the previous ones back
// (also when a sink throws).
class scoped_log_fields {
public:
    explicit scoped_log_fields(const log_fields& fields) : saved_(current_fields) { current_fields = fields; }
    ~scoped_log_fields() { current_fields = saved_; }
    scoped_log_fields(const scoped_log_fields&) = delete;
    scoped_log_fields& operator=(const scoped_log_fields&) = delete;

private:
    log_fields saved_;
};

class redacting_sink final : public spdlog::sinks::base_sink<std::mutex> {
public:
    explicit redacting_sink(spdlog::sink_ptr inner) : inner_(std::move(inner)) {}

protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        if (!inner_->should_log(msg.level)) return;  // as spdlog's own forwarding sinks do
        const std::string clean = redact(std::string_view(msg.payload.data(), msg.payload.size()));
        spdlog::details::log_msg copy = msg;
        copy.payload = spdlog::string_view_t(clean.data(), clean.size());

        // The fields are text from the caller too (a session name could be anything): the inner
        // sink sees redacted copies, which live until it returns.
        const log_fields& raw = current_fields;
        const std::string session = redact(raw.session);
        const std::string state = redact(raw.state);
        const std::string step = redact(raw.step);
        log_fields clean_fields = raw;
        clean_fields.session = session;
        clean_fields.state = state;
        clean_fields.step = step;
        const scoped_log_fields scope(clean_fields);
        inner_->log(copy);
    }
    void flush_() override { inner_->flush(); }
    void set_pattern_(const std::string& pattern) override { inner_->set_formatter(make_line_formatter(pattern)); }
    void set_formatter_(std::unique_ptr<spdlog::formatter> f) override { inner_->set_formatter(std::move(f)); }

private:
    spdlog::sink_ptr inner_;
};

// %*: " | session=... state=..." for the log call in progress.
class log_fields_formatter final : public spdlog::custom_flag_formatter {
public:
    void format(const spdlog::details::log_msg&, const std::tm&, spdlog::memory_buf_t& dest) override {
        const std::string text = format_log_fields(current_fields);
        if (text.empty()) return;
        dest.append(std::string_view(" | "));
        dest.append(text);
    }
    [[nodiscard]] std::unique_ptr<spdlog::custom_flag_formatter> clone() const override {
        return std::make_unique<log_fields_formatter>();
    }
};

}  // namespace

const log_fields& current_log_fields() noexcept { return current_fields; }

std::string format_log_fields(const log_fields& f) {
    std::string out;
    visit_log_fields(f, [&](std::string_view key, std::string_view, std::string_view value) {
        if (!out.empty()) out += ' ';
        out.append(key).append("=").append(value);
    });
    return out;
}

std::unique_ptr<spdlog::formatter> make_line_formatter(std::string pattern) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<log_fields_formatter>(log_fields_flag).set_pattern(std::move(pattern));
    return formatter;
}

void logger::log(spdlog::level::level_enum level, log_fields fields, std::string_view message) const {
    if (!impl_) return;
    if (fields.session.empty()) fields.session = session_;
    const scoped_log_fields scope(fields);
    impl_->log(level, "{}", message);
}

spdlog::sink_ptr make_redacting_sink(spdlog::sink_ptr inner) { return std::make_shared<redacting_sink>(std::move(inner)); }

std::shared_ptr<spdlog::logger> make_stderr_logger(std::string name, spdlog::level::level_enum level) {
    auto sink = make_redacting_sink(std::make_shared<spdlog::sinks::stderr_sink_mt>());
    auto out = std::make_shared<spdlog::logger>(std::move(name), std::move(sink));
    out->set_formatter(make_line_formatter("%Y-%m-%dT%H:%M:%S.%e%z %-5l %v%*"));
    out->set_level(level);
    out->flush_on(spdlog::level::trace);
    return out;
}

}  // namespace sessiond
