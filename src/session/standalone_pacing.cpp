#include "sessiond/session/standalone_pacing.hpp"

#include "sessiond/core/state_file.hpp"
#include "sessiond/core/time_format.hpp"

#include <algorithm>

namespace sessiond {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

namespace {

login_budget_settings limits_of(const session_options& o) {
    return {duration_cast<milliseconds>(o.login_min_interval), o.logins_per_hour};
}

}  // namespace

std::optional<std::string> standalone_login_refusal(const persisted_pacing& record, const session_options& o,
                                                    wall_time now) {
    const auto in_flight = duration_cast<milliseconds>(o.http_timeout);
    login_budget budget = record.logins;
    budget.advance(now);
    wall_time login_at = budget.next_allowed(now);
    if (!budget.recent().empty())
        login_at = std::max(login_at, budget.recent().back() + in_flight + duration_cast<milliseconds>(o.login_min_interval));
    if (login_at > now) {
        return "the login budget of this IBKR username (" + std::to_string(o.logins_per_hour) + " an hour, " +
               human_duration(duration_cast<milliseconds>(o.login_min_interval)) +
               " apart, in its pacing record) allows the next login at " + iso8601_utc(login_at) + ", in " +
               human_duration(duration_cast<milliseconds>(login_at - now));
    }
    if (record.last_validate) {
        const wall_time validate_at = *record.last_validate + in_flight + duration_cast<milliseconds>(o.pace_validate);
        if (validate_at > now) {
            return "IBKR allows one validate every " + human_duration(duration_cast<milliseconds>(o.pace_validate)) +
                   " per username and this one's pacing record holds a validate at " +
                   iso8601_utc(*record.last_validate) + ": the next may come at " + iso8601_utc(validate_at) + ", in " +
                   human_duration(duration_cast<milliseconds>(validate_at - now));
        }
    }
    return std::nullopt;
}

standalone_pacing standalone_pacing::open(const settings& config, wall_time now) {
    const session_options& o = config.options;
    standalone_pacing p(o, persisted_pacing{login_budget(limits_of(o)), std::nullopt});
    if (!config.service.state_dir) return p;
    p.path_ = *config.service.state_dir / pacing_file_name(config.profile.credential);
    // We hold the username lock: no daemon writes this record meanwhile.
    remove_leftover_temporaries(*p.path_);
    const auto text = read_small_file(*p.path_);
    if (text && !*text) return p;
    auto restored = text ? restore_pacing(**text, limits_of(o), now) : expected<persisted_pacing>(text.error());
    if (restored) {
        p.record_ = std::move(*restored);
        return p;
    }
    // The daemon's safe reading of a record it cannot read: a login and a validate just happened.
    p.note_ = "pacing record " + p.path_->string() + ": " + restored.error().message +
              "; counting a login and a validate now to stay within IBKR's limits";
    p.record_.logins.record(now);
    p.record_.last_validate = now;
    (void)p.save();
    return p;
}

std::optional<std::string> standalone_pacing::refusal(wall_time now) const {
    return standalone_login_refusal(record_, options_, now);
}

expected<void> standalone_pacing::record_login(wall_time at) {
    record_.logins.record(at);
    record_.last_validate = at;
    return save();
}

expected<void> standalone_pacing::record_validate(wall_time at) {
    if (!record_.last_validate || at > *record_.last_validate) record_.last_validate = at;
    return save();
}

expected<void> standalone_pacing::save() const {
    if (!path_) return {};
    return write_atomically(*path_, serialize_pacing(record_.logins, record_.last_validate));
}

}  // namespace sessiond
