#include "sessiond/users/user_directory.hpp"

namespace sessiond {

bool valid_user_id(std::string_view id) {
    if (id.empty() || id.size() > 64 || id.front() == '.' || id.front() == '-') return false;
    for (const char c : id) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                        c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

user_problem no_such_user(std::string_view id) {
    return user_problem{404, "no such user", "no user \"" + std::string(id) + "\"", {}, std::nullopt};
}

}  // namespace sessiond
