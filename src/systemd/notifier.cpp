#include "sessiond/systemd/notifier.hpp"

#include "sessiond/log/redact.hpp"

#include <systemd/sd-daemon.h>

#include <time.h>

#include <cstdlib>

namespace sessiond {

namespace {

bool is_control(unsigned char c) { return c < 0x20 || c == 0x7f; }

bool is_utf8_continuation(unsigned char c) { return (c & 0xc0) == 0x80; }

}  // namespace

std::string reloading_message(std::uint64_t monotonic_usec) {
    return "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_usec);
}

std::string status_message(std::string_view line) {
    std::string text = redact(line);
    for (char& c : text) {
        if (is_control(static_cast<unsigned char>(c))) c = ' ';
    }
    if (text.size() > max_status_bytes) {
        constexpr std::string_view ellipsis = "...";
        std::size_t cut = max_status_bytes - ellipsis.size();
        // Never split a multi-byte character: systemctl would show a replacement glyph.
        while (cut > 0 && is_utf8_continuation(static_cast<unsigned char>(text[cut]))) --cut;
        text.resize(cut);
        text += ellipsis;
    }
    return "STATUS=" + text;
}

std::uint64_t monotonic_usec_now() {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000u + static_cast<std::uint64_t>(now.tv_nsec) / 1'000u;
}

notifier::notifier() {
    const char* socket = std::getenv("NOTIFY_SOCKET");
    enabled_ = socket != nullptr && *socket != '\0';
}

bool notifier::ready() { return send(notify_ready); }

bool notifier::reloading() { return send(reloading_message(monotonic_usec_now())); }

bool notifier::stopping() { return send(notify_stopping); }

bool notifier::status(std::string_view line) { return send(status_message(line)); }

bool notifier::watchdog_ping() { return send(notify_watchdog); }

bool notifier::send(std::string_view message) {
    if (!enabled_) return false;
    const std::string text(message);  // sd_notify wants a NUL-terminated string
    // unset_environment = 0: a reload or a later notifier may still need $NOTIFY_SOCKET.
    if (::sd_notify(0, text.c_str()) > 0) {
        ++sent_;
        return true;
    }
    ++failed_;
    return false;
}

}  // namespace sessiond
