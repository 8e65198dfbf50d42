#pragma once
// Every secret enrolls itself here while it lives; the log redactor reads the list.

#include <functional>
#include <string_view>

namespace sessiond {

void for_each_live_secret(const std::function<void(std::string_view)>& visit);

}  // namespace sessiond
