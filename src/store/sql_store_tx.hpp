#pragma once
// store_tx in the portable SQL of database.hpp: the one implementation, whatever the engine.

#include "sessiond/store/credential_store.hpp"

namespace sessiond {

class sql_store_tx final : public store_tx {
public:
    explicit sql_store_tx(sql_connection& sql) : sql_(sql) {}

    expected<void> insert_user(const user_row& user) override;
    expected<std::optional<user_row>> find_user(std::string_view id) override;
    expected<std::optional<user_row>> find_user_by_token_hash(const byte_string& hash) override;
    expected<bool> set_token_hash(std::string_view id, const std::optional<byte_string>& hash, std::int64_t at_ms) override;
    expected<bool> delete_user(std::string_view id) override;
    expected<std::vector<user_row>> list_users(std::string_view after_id, std::size_t limit) override;

    expected<std::optional<credential_row>> find_credential(std::string_view user_id) override;
    expected<std::optional<std::string>> credential_owner(std::string_view username) override;
    expected<void> put_credential(const credential_row& credential) override;
    expected<bool> delete_credential(std::string_view user_id) override;
    expected<std::vector<key_version_count>> list_key_versions() override;
    expected<std::vector<credential_row>> credentials_with_key_version(std::int64_t key_version,
                                                                       std::string_view after_user_id,
                                                                       std::size_t limit) override;
    expected<bool> update_key_record(std::string_view user_id, std::string_view expected_etag, const byte_string& record,
                                     std::int64_t key_version) override;

    expected<std::optional<audit_head>> last_audit() override;
    expected<void> append_audit(const audit_row& entry) override;
    expected<std::vector<audit_row>> audit_page(std::string_view user, std::int64_t after_seq, std::size_t limit) override;
    expected<std::vector<audit_row>> audit_all(std::int64_t after_seq, std::size_t limit) override;

    expected<void> heartbeat(std::string_view replica_id, bool starting) override;
    expected<void> leave(std::string_view replica_id) override;
    expected<std::int64_t> live_replicas(std::int64_t within_ms, std::string_view except = {}) override;
    expected<std::int64_t> count_credentials() override;
    expected<std::vector<lease_row>> claim_leases(std::string_view replica_id, std::size_t limit,
                                                 std::int64_t ttl_ms) override;
    expected<std::vector<lease_row>> renew_leases(std::string_view replica_id, std::int64_t ttl_ms) override;
    expected<bool> release_lease(std::string_view replica_id, const lease_row& lease) override;
    expected<replica_census> census() override;
    expected<void> announce_user(std::string_view user_id) override;
    expected<void> announce_released(std::string_view replica_id) override;

    expected<std::optional<std::string>> load_pacing(std::string_view username) override;
    expected<void> save_pacing(std::string_view username, std::string_view record, std::int64_t at_ms,
                               const std::optional<lease_fence>& fence) override;

private:
    // The statement with the engine's words in place of the placeholders (database.hpp).
    [[nodiscard]] std::string engine(std::string_view sql) const { return engine_sql(sql, sql_.words()); }

    sql_connection& sql_;
};

}  // namespace sessiond
