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

user_problem make_problem(unsigned status, std::string title, std::string detail) {
    return user_problem{status, std::move(title), std::move(detail), {}, std::nullopt};
}

user_problem no_such_user(std::string_view id) {
    return make_problem(404, "no such user", "no user \"" + std::string(id) + "\"");
}

}  // namespace sessiond
