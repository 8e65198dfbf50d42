#pragma once
// Last line of defence for secrets in logs: every log line passes through redact() before any sink
// writes it. It removes the value of every live `secret`, anything shaped like a JWT, PEM blocks and
// bearer credentials. Code must still never log a secret; this catches the mistake when it does.

#include <string>
#include <string_view>

namespace sessiond {

inline constexpr std::string_view redacted_marker = "[redacted]";

std::string redact(std::string_view text);

// True when redact() would change the text: lets tests and fuzzers assert cleanliness.
bool contains_secret_material(std::string_view text);

}  // namespace sessiond
