#pragma once
// The ".env" format of the integration guide: what `--env-file PATH` and SIGHUP read.
//
//   # comment                     blank lines are ignored
//   KEY=value                     unquoted: surrounding blanks trimmed, " #..." comment stripped
//   export KEY=value              a leading "export " is accepted (files shared with shells)
//   KEY='literal $value'          single quotes: taken verbatim, may not contain a single quote
//   KEY="a\nb \"q\" \\ \$"        double quotes: \n \r \t \" \\ \$ escapes; may span several lines
//
// Keys are [A-Za-z_][A-Za-z0-9_]*. A UTF-8 byte order mark is skipped; CRLF line ends read as LF, also
// inside quoted values. Errors name the line and what is wrong, never the value.

#include "sessiond/core/error.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace sessiond {

struct env_entry {
    std::string name;
    std::string value;
    int line = 0;  // 1-based line where the entry starts
};

// Owns parsed values, some of which are secrets: wipes them when it dies.
class env_entries {
public:
    env_entries() = default;
    env_entries(const env_entries&) = delete;
    env_entries& operator=(const env_entries&) = delete;
    env_entries(env_entries&&) noexcept = default;
    env_entries& operator=(env_entries&&) noexcept = default;
    ~env_entries();

    std::vector<env_entry> items;
};

expected<env_entries> parse_env_file(std::string_view text);

}  // namespace sessiond
