#include "sessiond/pacing/login_budget.hpp"

namespace sessiond {

login_budget::login_budget(login_budget_settings s) : window_(window, s.per_hour, s.min_spacing) {}

void login_budget::reconfigure(login_budget_settings s) { window_.set_limits(s.per_hour, s.min_spacing); }

}  // namespace sessiond
