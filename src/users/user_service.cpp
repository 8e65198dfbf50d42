#include "sessiond/users/user_service.hpp"

#include "sessiond/core/time_format.hpp"
#include "sessiond/users/api_token.hpp"
#include "sessiond/users/sealed_key.hpp"
#include "sessiond/vault/credential_record.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/json/parse.hpp>

#include <openssl/rand.h>

#include <chrono>
#include <iterator>
#include <utility>
#include <stdexcept>

namespace sessiond {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

// A credential that IBKR would not prove answers 503 with this when IBKR named no time.
constexpr std::chrono::seconds default_retry_after{60};
// How many users one page of the start-up read holds.
constexpr std::size_t load_page = 1000;
// Users whose credentials the start-up read opens in one transaction. Each opening appends an audit
// entry, which holds the audit chain's head (shared by every replica of a database) until the
// commit: short transactions let the other replicas' entries through between them.
constexpr std::size_t open_page = 100;

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string hash_key(const byte_string& hash) { return std::string(hash.begin(), hash.end()); }

// 16 random bytes, hex: credential ids and ETags.
std::string random_id() {
    unsigned char bytes[16];
    if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("the system's random generator failed");
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (const unsigned char b : bytes) {
        out += digits[b >> 4];
        out += digits[b & 0xf];
    }
    return out;
}

user_problem no_credential(std::string_view id) {
    return make_problem(404, "no credentials", "user " + std::string(id) + " has no IBKR credentials");
}

credential_metadata metadata_of(const credential_row& row) {
    return credential_metadata{.client_id = row.client_id,
                               .client_key_id = row.client_key_id,
                               .username = row.username,
                               .account_id = row.account_id,
                               .allowed_ip = row.allowed_ip,
                               .environment = row.environment,
                               .scope = row.scope.value_or(ibkr_profile{}.scope),
                               .key_fingerprint = row.key_fingerprint,
                               .created_ms = row.created_ms,
                               .updated_ms = row.updated_ms,
                               .last_validated_ms = row.last_validated_ms,
                               .etag = "\"" + row.etag + "\""};
}

// If-Match against the stored credential (RFC 9110 13.1.1): "*" matches any, otherwise one of the
// listed strong tags must be the credential's.
bool if_match_holds(const std::optional<std::string>& if_match, const std::optional<credential_row>& stored) {
    if (!if_match) return true;
    if (!stored) return false;
    std::string_view list = *if_match;
    const std::string wanted = "\"" + stored->etag + "\"";
    while (!list.empty()) {
        const auto comma = list.find(',');
        std::string_view item = list.substr(0, comma);
        while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
        while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
        if (item == "*" || item == wanted) return true;
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
    return false;
}

// The credential fields IBKR's refusal of the token step points at: its client assertion names the
// client and key, and is signed with the key.
std::vector<credential_field_problem> refused_fields(const step_outcome& out) {
    const std::string why = "IBKR refused the OAuth token request (HTTP " + std::to_string(out.http_status) + ": " +
                            out.detail + ")";
    return {{"client_id", why + "; check the client id"},
            {"client_key_id", why + "; check the key id and that the key is the one registered for it"},
            {"private_key", why + "; check that this key is the one registered with IBKR"}};
}

audit_event event(const caller& by, std::string action, std::string target, std::string outcome,
                  json::object details = {}) {
    return audit_event{by.actor(), by.source, std::move(action), std::move(target), std::move(outcome),
                       std::move(details)};
}

// Whether a user exists, and their credential if they have one.
struct user_credential {
    bool user = false;
    std::optional<credential_row> stored;
};

expected<user_credential> find_user_credential(store_tx& tx, const std::string& id) {
    auto user = tx.find_user(id);
    if (!user) return user.error();
    user_credential out{user->has_value(), std::nullopt};
    if (!out.user) return out;
    auto stored = tx.find_credential(id);
    if (!stored) return stored.error();
    out.stored = std::move(*stored);
    return out;
}

// Another user's credential logs in as this IBKR username: one brokerage session per username.
expected<bool> username_taken(store_tx& tx, const std::string& id, const std::string& username) {
    auto owner = tx.credential_owner(username);
    if (!owner) return owner.error();
    return owner->has_value() && **owner != id;
}

user_problem username_in_use() {
    return make_problem(409, "IBKR username in use",
                   "another user of this daemon keeps a session for this IBKR username (one brokerage session per "
                   "username)");
}

// What the start-up read gives back for each credential.
struct opened_credential {
    std::string user_id;
    std::optional<ibkr_profile> profile;  // none: it did not open (the audit entry says why)
    std::string why;
};

struct loaded_state {
    std::vector<std::pair<std::string, std::string>> tokens;  // hash, user id
    std::vector<opened_credential> credentials;
    std::vector<audit_row> audited;
};

// The session's key stays sealed as it is stored: each login opens the record and parses the key
// for its signatures, then frees it. The keyring is the one that opened it now, so that the record
// still opens after `keys rewrap` (which changes the stored record, not this copy) has retired the
// version it was wrapped with; the daemon's next start reads the rewrapped one.
rsa_private_key sealed_key_of(const std::shared_ptr<const master_keyring>& keyring, const credential_row& row,
                              const rsa_private_key& parsed) {
    auto open = [keyring, binding = key_record_binding(row),
                 record = std::string(reinterpret_cast<const char*>(row.key_record.data()), row.key_record.size())]()
        -> expected<secret> {
        auto der = open_record(*keyring, binding, record);
        if (!der) return make_error(der.error().message);
        return std::move(*der);
    };
    return rsa_private_key::sealed(parsed, std::move(open));
}

ibkr_profile profile_of(const credential_row& row, rsa_private_key key) {
    ibkr_profile p;
    p.client_id = row.client_id;
    p.client_key_id = row.client_key_id;
    p.private_key = std::move(key);
    p.private_key_source = "the credential of user " + row.user_id + " (database)";
    p.credential = row.username;
    p.account_id = row.account_id;
    p.allowed_ip = row.allowed_ip;
    p.scope = row.scope.value_or(p.scope);
    p.environment = row.environment == "live" ? ibkr_environment::live : ibkr_environment::paper;
    return p;
}

// A stored credential opened with the keyring, and its "key.decrypt" audit entry (appended in
// `tx`, with the outcome): what the start-up read and a replica's take-over of a user both do.
expected<std::pair<opened_credential, audit_row>> open_credential(store_tx& tx,
                                                                  const std::shared_ptr<const master_keyring>& keyring,
                                                                  const credential_row& c, std::int64_t at) {
    opened_credential opened{c.user_id, std::nullopt, {}};
    const std::string_view record(reinterpret_cast<const char*>(c.key_record.data()), c.key_record.size());
    auto der = open_record(*keyring, key_record_binding(c), record);
    std::string outcome = "ok";
    if (!der) {
        outcome = der.error().kind == record_failure::tampered ? "tampered" : "failed";
        opened.why = der.error().message;
    } else if (auto key = rsa_private_key::from_pkcs8_der(der->reveal()); !key) {
        outcome = "failed";
        opened.why = key.error().message;
    } else {
        opened.profile = profile_of(c, sealed_key_of(keyring, c, *key));
    }
    auto entry = append_audit_event(tx, *keyring,
                                    {"daemon", "local", "key.decrypt", c.user_id, outcome,
                                     json::object{{"key_fingerprint", c.key_fingerprint}, {"key_version", c.key_version}}},
                                    at);
    if (!entry) return entry.error();
    return std::pair{std::move(opened), std::move(*entry)};
}

}  // namespace

user_service::user_service(asio::any_io_executor executor, credential_store& store,
                           std::shared_ptr<const master_keyring> keyring, user_sessions& sessions, logger log)
    : executor_(std::move(executor)),
      store_(store),
      keyring_(std::move(keyring)),
      sessions_(sessions),
      log_(std::move(log)) {}

void user_service::journal(const audit_row& row) const {
    log_.info({}, "audit #{}: {} by {} from {} on {}: {}", row.seq, row.action, row.actor, row.source,
              row.target.empty() ? std::string("-") : row.target, row.outcome);
}

void user_service::journal(const std::vector<audit_row>& rows) const {
    for (const auto& r : rows) journal(r);
}

user_problem user_service::store_failed(std::string_view what, const error& e) {
    log_.error({}, "the database: {}: {}", what, e.message);
    user_problem p = make_problem(503, "database unavailable", "the database did not answer; try again");
    p.retry_after = std::chrono::seconds(5);
    return p;
}

template <class R, class Change>
asio::awaitable<expected<R>> user_service::audited(audit_event ev, Change change) {
    struct result {
        R value;
        audit_row entry;
    };
    auto job = [keyring = keyring_, ev = std::move(ev), change = std::move(change), replica = replica_id_](store_tx& tx) mutable
        -> expected<result> {
        auto value = change(tx, ev);
        if (!value) return value.error();
        // The other replicas learn of it when this commits (their API tokens, the lease holder's
        // session): "<this replica>/<user id>".
        if (!ev.target.empty() && !replica.empty())
            if (auto told = tx.announce_user(replica + "/" + ev.target); !told) return told.error();
        auto entry = append_audit_event(tx, *keyring, ev, now_ms());
        if (!entry) return entry.error();
        return result{std::move(*value), std::move(*entry)};
    };
    auto done = co_await transact(std::move(job));
    if (!done) co_return done.error();
    journal(done->entry);
    co_return std::move(done->value);
}

asio::awaitable<expected<std::size_t>> user_service::load() {
    const std::shared_ptr<const master_keyring> keyring = keyring_;
    // Page by page, each page its own transaction; nothing is applied before every page was read
    // (one reconcile of the sessions, not one per page).
    loaded_state state;
    std::string after;
    for (;;) {
        auto read = [keyring, after](store_tx& tx) -> expected<std::pair<loaded_state, std::string>> {
            std::pair<loaded_state, std::string> out;
            auto& [page, last] = out;
            auto users = tx.list_users(after, open_page);
            if (!users) return users.error();
            const std::int64_t at = now_ms();
            for (const auto& u : *users) {
                if (u.token_hash) page.tokens.emplace_back(hash_key(*u.token_hash), u.id);
                auto row = tx.find_credential(u.id);
                if (!row) return row.error();
                if (!*row) continue;
                auto opened = open_credential(tx, keyring, **row, at);
                if (!opened) return opened.error();
                page.audited.push_back(std::move(opened->second));
                page.credentials.push_back(std::move(opened->first));
            }
            if (!users->empty()) last = users->back().id;
            return out;
        };
        auto page = co_await transact(std::move(read));
        if (!page) co_return page.error();
        auto& [read_now, last] = *page;
        std::move(read_now.tokens.begin(), read_now.tokens.end(), std::back_inserter(state.tokens));
        std::move(read_now.audited.begin(), read_now.audited.end(), std::back_inserter(state.audited));
        std::move(read_now.credentials.begin(), read_now.credentials.end(), std::back_inserter(state.credentials));
        if (last.empty()) break;
        after = std::move(last);
    }
    journal(state.audited);
    for (auto& [hash, id] : state.tokens) token_index_.emplace(std::move(hash), std::move(id));
    std::size_t kept = 0;
    for (auto& c : state.credentials) {
        if (!c.profile) {
            log_.error({}, "user {}: the stored IBKR credential does not open, no session for it: {}", c.user_id, c.why);
            continue;
        }
        sessions_.keep(c.user_id, std::move(*c.profile));
        ++kept;
    }
    co_return kept;
}

asio::awaitable<void> user_service::heard_from_replica(std::string payload) {
    const auto slash = payload.find('/');
    if (slash == std::string::npos) co_return;
    if (std::string_view(payload).substr(0, slash) == replica_id_) co_return;  // this replica's own change
    std::string id = payload.substr(slash + 1);
    log_.info({}, "user {} changed on replica {}: reading the user and the credential again", id,
              std::string_view(payload).substr(0, slash));
    co_await reload_tokens(id);
    (void)co_await refresh(std::move(id));
}

asio::awaitable<void> user_service::reload_tokens(std::string only) {
    struct token {
        std::string hash;
        std::string id;
    };
    auto read = [only](store_tx& tx) -> expected<std::vector<token>> {
        std::vector<token> out;
        if (!only.empty()) {
            auto user = tx.find_user(only);
            if (!user) return user.error();
            if (*user && (*user)->token_hash) out.push_back({hash_key(*(*user)->token_hash), only});
            return out;
        }
        std::string after;
        for (;;) {
            auto users = tx.list_users(after, load_page);
            if (!users) return users.error();
            if (users->empty()) break;
            for (const auto& u : *users)
                if (u.token_hash) out.push_back({hash_key(*u.token_hash), u.id});
            after = users->back().id;
        }
        return out;
    };
    auto tokens = co_await transact(std::move(read));
    if (!tokens) {
        log_.error({}, "reading the users' API tokens failed: {}", tokens.error().message);
        co_return;
    }
    if (only.empty()) token_index_.clear();
    else std::erase_if(token_index_, [&only](const auto& e) { return e.second == only; });
    for (auto& t : *tokens) token_index_.insert_or_assign(std::move(t.hash), std::move(t.id));
}

asio::awaitable<bool> user_service::refresh(std::string id) {
    const std::shared_ptr<const master_keyring> keyring = keyring_;
    struct read_state {
        std::optional<opened_credential> credential;  // none: the user has none (any more)
        std::optional<audit_row> audited;
    };
    auto read = [keyring, id](store_tx& tx) -> expected<read_state> {
        auto row = tx.find_credential(id);
        if (!row) return row.error();
        if (!*row) return read_state{};
        auto opened = open_credential(tx, keyring, **row, now_ms());
        if (!opened) return opened.error();
        return read_state{std::move(opened->first), std::move(opened->second)};
    };
    auto state = co_await transact(std::move(read));
    if (!state) {
        log_.error({}, "user {}: reading the IBKR credential failed: {}; no session for it until the next try", id,
                   state.error().message);
        co_return false;
    }
    if (state->audited) journal(*state->audited);
    if (!state->credential) {
        sessions_.drop(id);
        co_return true;
    }
    if (!state->credential->profile) {
        log_.error({}, "user {}: the stored IBKR credential does not open, no session for it: {}", id,
                   state->credential->why);
        co_return true;
    }
    sessions_.keep(id, std::move(*state->credential->profile));
    co_return true;
}

std::optional<std::string> user_service::user_for_token(std::string_view token) const {
    if (!token.starts_with(api_token_prefix)) return std::nullopt;
    const auto it = token_index_.find(hash_key(api_token_hash(token)));
    if (it == token_index_.end()) return std::nullopt;
    return it->second;
}

asio::awaitable<user_result<user_created>> user_service::create_user(const caller& by, std::string id) {
    secret token = issue_api_token();
    const byte_string hash = api_token_hash(token.reveal());
    auto change = [id, hash](store_tx& tx, audit_event& ev) -> expected<bool> {
        auto existing = tx.find_user(id);
        if (!existing) return existing.error();
        if (*existing) {
            ev.outcome = "exists";
            return false;
        }
        const std::int64_t at = now_ms();
        if (auto inserted = tx.insert_user({id, at, hash, at}); !inserted) return inserted.error();
        ev.details["token"] = "issued";
        return true;
    };
    auto created = co_await audited<bool>(event(by, "user.create", id, "ok"), std::move(change));
    if (!created) co_return store_failed("creating user " + id, created.error());
    user_created out;
    out.created = *created;
    if (*created) {
        token_index_[hash_key(hash)] = id;
        out.token = std::move(token);
    }
    co_return out;
}

asio::awaitable<user_result<secret>> user_service::replace_token(const caller& by, std::string id) {
    secret token = issue_api_token();
    const byte_string hash = api_token_hash(token.reveal());
    // The replaced token's hash, when the user exists.
    using replaced = std::optional<std::optional<byte_string>>;
    auto change = [id, hash](store_tx& tx, audit_event& ev) -> expected<replaced> {
        auto existing = tx.find_user(id);
        if (!existing) return existing.error();
        if (!*existing) {
            ev.outcome = "no such user";
            return replaced{};
        }
        if (auto set = tx.set_token_hash(id, hash, now_ms()); !set) return set.error();
        ev.details["previous_token"] = (*existing)->token_hash ? "revoked" : "none";
        return replaced{(*existing)->token_hash};
    };
    auto done = co_await audited<replaced>(event(by, "token.replace", id, "ok"), std::move(change));
    if (!done) co_return store_failed("replacing the token of user " + id, done.error());
    if (!*done) co_return no_such_user(id);
    if (const auto& old = **done) token_index_.erase(hash_key(*old));
    token_index_[hash_key(hash)] = id;
    co_return std::move(token);
}

asio::awaitable<user_result<std::monostate>> user_service::delete_user(const caller& by, std::string id) {
    // The deleted user's token hash, when there was such a user.
    using deleted = std::optional<std::optional<byte_string>>;
    auto change = [id](store_tx& tx, audit_event& ev) -> expected<deleted> {
        auto now = find_user_credential(tx, id);
        if (!now) return now.error();
        if (!now->user) {
            ev.outcome = "no such user";
            return deleted{};
        }
        auto user = tx.find_user(id);
        if (!user) return user.error();
        if (now->stored) ev.details["key_fingerprint"] = now->stored->key_fingerprint;
        if (auto gone = tx.delete_user(id); !gone) return gone.error();
        return deleted{*user ? (*user)->token_hash : std::nullopt};
    };
    auto done = co_await audited<deleted>(event(by, "user.delete", id, "ok"), std::move(change));
    if (!done) co_return store_failed("deleting user " + id, done.error());
    if (!*done) co_return no_such_user(id);
    if (const auto& hash = **done) token_index_.erase(hash_key(*hash));
    sessions_.drop(id);
    co_return std::monostate{};
}

asio::awaitable<user_result<user_page>> user_service::list_users(const caller& /*by*/, std::string after,
                                                                 std::size_t limit) {
    auto read = [after, limit](store_tx& tx) { return tx.list_users(after, limit + 1); };
    auto rows = co_await transact(std::move(read));
    if (!rows) co_return store_failed("listing users", rows.error());
    user_page page;
    for (std::size_t i = 0; i < rows->size() && i < limit; ++i) {
        const std::string& id = (*rows)[i].id;
        page.users.push_back({id, sessions_.state_line(id)});
    }
    if (rows->size() > limit) page.next = page.users.back().id;
    co_return page;
}

asio::awaitable<user_result<credential_stored>> user_service::put_credentials(const caller& by, std::string id,
                                                                              std::string body,
                                                                              std::optional<std::string> if_match) {
    credential_request_check check = check_credential_request(body);
    wipe(body);
    if (!check.profile) {
        user_problem p = make_problem(422, "invalid credentials",
                                      "the request names " + std::to_string(check.problems.size()) +
                                          " problem(s); see errors");
        p.fields = std::move(check.problems);
        co_return p;
    }
    ibkr_profile profile = std::move(*check.profile);

    // Before IBKR is asked: the user must exist, If-Match must hold, and the IBKR username must not be
    // another user's (one brokerage session per username).
    struct precheck {
        user_credential now;
        bool username_taken = false;
    };
    auto look = [id, username = profile.credential](store_tx& tx) -> expected<precheck> {
        auto now = find_user_credential(tx, id);
        if (!now) return now.error();
        auto taken = username_taken(tx, id, username);
        if (!taken) return taken.error();
        return precheck{std::move(*now), *taken};
    };
    auto checked = co_await transact(std::move(look));
    if (!checked) co_return store_failed("reading the credential of user " + id, checked.error());
    const user_credential* before = &checked->now;
    if (!before->user) co_return no_such_user(id);
    if (!if_match_holds(if_match, before->stored))
        co_return make_problem(412, "precondition failed",
                          before->stored ? "the credential has changed: its ETag is no longer the one in If-Match"
                                         : "user " + id + " has no credential for If-Match to match");
    if (checked->username_taken) co_return username_in_use();

    const std::string fingerprint = profile.private_key->fingerprint();
    const step_outcome proof = co_await sessions_.prove(profile);
    const std::int64_t proved_at = now_ms();
    std::optional<user_problem> refused;
    std::string outcome = "ok";
    if (!proof.ok()) {
        if (proof.kind == failure::unauthorized || proof.kind == failure::forbidden || proof.kind == failure::rejected) {
            refused = make_problem(422, "credentials refused by IBKR",
                              "IBKR refused the OAuth token request: " + proof.detail);
            refused->fields = refused_fields(proof);
            outcome = "refused";
        } else {
            refused = make_problem(503, "IBKR unavailable",
                              "IBKR could not be asked to prove the credential (" + std::string(to_string(proof.kind)) +
                                  (proof.detail.empty() ? "" : ": " + proof.detail) + "); nothing was stored");
            refused->retry_after = proof.retry_after.value_or(default_retry_after);
            outcome = "unavailable";
        }
    }

    const std::shared_ptr<const master_keyring> keyring = keyring_;
    const bool replacing = before->stored.has_value();
    credential_row row;
    row.user_id = id;
    row.credential_id = replacing ? before->stored->credential_id : random_id();
    row.client_id = profile.client_id;
    row.client_key_id = profile.client_key_id;
    row.username = profile.credential;
    row.account_id = profile.account_id;
    row.allowed_ip = profile.allowed_ip;
    row.environment = std::string(to_string(*profile.environment));
    row.scope = profile.scope;
    row.key_fingerprint = fingerprint;
    row.etag = random_id();
    row.created_ms = replacing ? before->stored->created_ms : proved_at;
    row.updated_ms = proved_at;
    row.last_validated_ms = proved_at;
    if (!refused) {
        const secret der = profile.private_key->pkcs8_der();
        auto sealed = seal_record(*keyring, key_record_binding(row), der.reveal());
        if (!sealed) {
            log_.error({}, "user {}: sealing the private key failed: {}", id, sealed.error().message);
            co_return make_problem(500, "sealing failed", "the private key could not be encrypted; nothing was stored");
        }
        row.key_record.assign(sealed->begin(), sealed->end());
        wipe(*sealed);
        row.key_version = keyring->current_version();
    }

    struct result {
        std::optional<user_problem> problem;
        std::vector<audit_row> audited;
    };
    auto write = [keyring, row, if_match, refused, replacing,
                  validate = event(by, "credential.validate", id, outcome,
                                   json::object{{"key_fingerprint", fingerprint}, {"http_status", proof.http_status}}),
                  change = event(by, replacing ? "credential.replace" : "credential.create", id, "ok",
                                 json::object{{"key_fingerprint", fingerprint}})](store_tx& tx) mutable
        -> expected<result> {
        result out;
        auto validated = append_audit_event(tx, *keyring, validate, row.updated_ms);
        if (!validated) return validated.error();
        out.audited.push_back(std::move(*validated));
        if (refused) return out;  // only the validation is recorded
        // Checked again in the transaction that writes: the user or the credential may have changed
        // while IBKR was asked.
        auto now = find_user_credential(tx, row.user_id);
        if (!now) return now.error();
        auto taken = username_taken(tx, row.user_id, row.username);
        if (!taken) return taken.error();
        if (*taken) {
            out.problem = username_in_use();  // another user's credential for it came in meanwhile
        } else if (!now->user) {
            out.problem = no_such_user(row.user_id);
        } else if (!if_match_holds(if_match, now->stored) || now->stored.has_value() != replacing ||
                   (replacing && now->stored->credential_id != row.credential_id)) {
            out.problem = make_problem(412, "precondition failed", "the credential changed while IBKR was asked; read it and try again");
        }
        if (out.problem) {
            change.outcome = out.problem->status == 404 ? "no such user" : "conflict";
        } else {
            if (auto put = tx.put_credential(row); !put) return put.error();
            change.details["key_version"] = row.key_version;
        }
        auto changed = append_audit_event(tx, *keyring, change, row.updated_ms);
        if (!changed) return changed.error();
        out.audited.push_back(std::move(*changed));
        return out;
    };
    auto done = co_await transact(std::move(write));
    if (!done) co_return store_failed("storing the credential of user " + id, done.error());
    journal(done->audited);
    if (refused) co_return std::move(*refused);
    if (done->problem) co_return std::move(*done->problem);
    profile.private_key = sealed_key_of(keyring, row, *profile.private_key);
    sessions_.keep(id, std::move(profile));
    co_return credential_stored{!replacing, metadata_of(row)};
}

asio::awaitable<user_result<credential_metadata>> user_service::get_credentials(const caller& /*by*/, std::string id) {
    auto read = [id](store_tx& tx) { return find_user_credential(tx, id); };
    auto done = co_await transact(std::move(read));
    if (!done) co_return store_failed("reading the credential of user " + id, done.error());
    if (!done->user) co_return no_such_user(id);
    if (!done->stored) co_return no_credential(id);
    co_return metadata_of(*done->stored);
}

asio::awaitable<user_result<std::monostate>> user_service::delete_credentials(const caller& by, std::string id) {
    auto change = [id](store_tx& tx, audit_event& ev) -> expected<std::optional<user_problem>> {
        auto now = find_user_credential(tx, id);
        if (!now) return now.error();
        if (!now->user) {
            ev.outcome = "no such user";
            return no_such_user(id);
        }
        if (!now->stored) {
            ev.outcome = "no credential";
            return no_credential(id);
        }
        ev.details["key_fingerprint"] = now->stored->key_fingerprint;
        if (auto gone = tx.delete_credential(id); !gone) return gone.error();
        return std::optional<user_problem>{};
    };
    auto done = co_await audited<std::optional<user_problem>>(event(by, "credential.delete", id, "ok"), std::move(change));
    if (!done) co_return store_failed("deleting the credential of user " + id, done.error());
    if (*done) co_return std::move(**done);
    sessions_.drop(id);
    co_return std::monostate{};
}

user_result<json::object> user_service::user_status(std::string_view id) const {
    if (auto st = sessions_.status(id)) return std::move(*st);
    return no_credential(id);
}

bool user_service::run_test(const std::string& id, std::function<void(const connection_test_report&)> done) {
    return sessions_.run_test(id, std::move(done));
}

asio::awaitable<user_result<std::vector<audit_entry_view>>> user_service::audit_page(const caller& /*by*/,
                                                                                    audit_page_request request) {
    auto read = [request](store_tx& tx) {
        return request.user ? tx.audit_page(*request.user, request.after, request.limit)
                            : tx.audit_all(request.after, request.limit);
    };
    auto rows = co_await transact(std::move(read));
    if (!rows) co_return store_failed("reading the audit log", rows.error());
    std::vector<audit_entry_view> out;
    out.reserve(rows->size());
    for (auto& r : *rows) {
        json::object details;
        boost::system::error_code ec;
        if (auto v = json::parse(r.details, ec); !ec && v.is_object()) details = std::move(v.as_object());
        out.push_back({r.seq, r.at_ms, std::move(r.actor), std::move(r.source), std::move(r.action),
                       std::move(r.target), std::move(r.outcome), std::move(details), r.key_version});
    }
    co_return out;
}

asio::awaitable<user_result<json::object>> user_service::replicas(const caller& /*by*/) {
    if (replica_id_.empty())
        co_return make_problem(404, "not a replica",
                               "this daemon is the only one of its database (SESSIOND_REPLICA_ID is not set)");
    auto census = co_await transact([](store_tx& tx) { return tx.census(); });
    if (!census) co_return store_failed("reading the replicas and leases", census.error());
    const auto at = [](std::int64_t ms) {
        return iso8601_utc(std::chrono::system_clock::time_point(std::chrono::milliseconds(ms)));
    };
    json::array replicas;
    for (const replica_row& r : census->replicas)
        replicas.push_back(json::object{{"id", r.id},
                                        {"started_at", at(r.started_ms)},
                                        {"heartbeat_at", at(r.heartbeat_ms)},
                                        {"live", r.heartbeat_ms > census->now_ms - live_within_.count()},
                                        {"users", r.leases}});
    json::array leases;
    for (const lease_holder_row& l : census->leases) {
        const bool held = !l.holder.empty() && l.expires_ms > census->now_ms;
        leases.push_back(json::object{{"user", l.user_id},
                                      {"holder", held ? json::value(l.holder) : json::value(nullptr)},
                                      {"fencing_token", l.fencing},
                                      {"expires_at", held ? json::value(at(l.expires_ms)) : json::value(nullptr)}});
    }
    co_return json::object{{"this_replica", replica_id_},
                           {"database_time", at(census->now_ms)},
                           {"replicas", std::move(replicas)},
                           {"leases", std::move(leases)}};
}

void user_service::record_denied(std::string source, std::string actor, std::string path, unsigned status) {
    if (path.size() > 200) path.resize(200);
    append_later({std::move(actor), std::move(source), "request.denied", {}, std::to_string(status),
                  json::object{{"path", std::move(path)}}},
                 true);
}

void user_service::record_session_event(std::string user_id, std::string action, std::string outcome,
                                        json::object details) {
    append_later({"daemon", "local", std::move(action), std::move(user_id), std::move(outcome), std::move(details)},
                 false);
}

void user_service::append_later(audit_event ev, bool from_a_client) {
    // A flood of denied requests must not queue without end behind a slow disk: past the bound they
    // are counted, and the count is written once the queue has drained. Session events are not
    // bounded here: a session makes a few (login, logout, halt) at the pace of its login budget, so
    // they are bounded by the sessions; a stop of 10,000 sessions queues 10,000 logouts at once.
    if (from_a_client) {
        if (client_entries_pending_ >= max_pending_client_entries) {
            if (unrecorded_++ == 0)
                log_.warn({}, "the database is behind: audit entries of denied requests are counted, not written, "
                              "until it catches up");
            return;
        }
        ++client_entries_pending_;
    }
    pending_appends_.push_back({std::move(ev), from_a_client});
    if (writing_appends_) return;
    writing_appends_ = true;
    asio::co_spawn(executor_, write_pending_appends(), asio::detached);
}

asio::awaitable<void> user_service::write_pending_appends() {
    while (!pending_appends_.empty()) {
        // Up to a batch in one transaction: one commit (and, on SQLite, one fsync) for many entries.
        std::vector<audit_event> batch;
        while (!pending_appends_.empty() && batch.size() < append_batch) {
            pending_append& next = pending_appends_.front();
            if (next.from_a_client) --client_entries_pending_;
            batch.push_back(std::move(next.event));
            pending_appends_.pop_front();
        }
        const std::size_t count = batch.size();
        auto job = [keyring = keyring_, batch = std::move(batch)](store_tx& tx) -> expected<std::vector<audit_row>> {
            std::vector<audit_row> rows;
            rows.reserve(batch.size());
            const std::int64_t at = now_ms();
            for (const audit_event& ev : batch) {
                auto entry = append_audit_event(tx, *keyring, ev, at);
                if (!entry) return entry.error();
                rows.push_back(std::move(*entry));
            }
            return rows;
        };
        auto done = co_await transact(std::move(job));
        if (done)
            journal(*done);
        else
            log_.error({}, "the database: {} audit entr{} could not be written: {}", count, count == 1 ? "y" : "ies",
                       done.error().message);
        if (pending_appends_.empty() && unrecorded_ > 0) {
            const std::size_t counted = std::exchange(unrecorded_, 0);
            pending_appends_.push_back(
                {{"daemon", "local", "audit.unrecorded", {}, "counted", json::object{{"entries", counted}}}, false});
        }
    }
    writing_appends_ = false;
}

}  // namespace sessiond
