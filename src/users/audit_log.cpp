#include "sessiond/users/audit_log.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <limits>

namespace sessiond {

audit_row to_audit_row(const audit_entry& e) {
    return {.seq = e.seq,
            .at_ms = e.at_ms,
            .actor = e.actor,
            .source = e.source,
            .action = e.action,
            .target = e.target,
            .outcome = e.outcome,
            .details = e.details,
            .key_version = e.key_version,
            .mac = byte_string(e.mac.begin(), e.mac.end())};
}

expected<audit_entry> to_audit_entry(const audit_row& r) {
    if (r.mac.size() != audit_mac{}.size())
        return make_error("audit entry " + std::to_string(r.seq) + " has a MAC of " + std::to_string(r.mac.size()) +
                          " bytes, not 32");
    if (r.key_version < 0 || r.key_version > std::numeric_limits<std::uint32_t>::max())
        return make_error("audit entry " + std::to_string(r.seq) + " names no possible master key version");
    audit_entry e{.seq = r.seq,
                  .at_ms = r.at_ms,
                  .actor = r.actor,
                  .source = r.source,
                  .action = r.action,
                  .target = r.target,
                  .outcome = r.outcome,
                  .details = r.details,
                  .key_version = static_cast<std::uint32_t>(r.key_version)};
    std::copy(r.mac.begin(), r.mac.end(), e.mac.begin());
    return e;
}

expected<audit_row> append_audit_event(store_tx& tx, const master_keyring& keyring, const audit_event& event,
                                       std::int64_t at_ms) {
    const auto head = tx.last_audit();
    if (!head) return head.error();
    std::optional<audit_mac> previous;
    std::int64_t seq = 1;
    if (*head) {
        if ((*head)->mac.size() != audit_mac{}.size())
            return make_error("the audit log's last entry has a MAC of the wrong size: run ibkr-sessiond audit verify");
        previous.emplace();
        std::copy((*head)->mac.begin(), (*head)->mac.end(), previous->begin());
        seq = (*head)->seq + 1;
    }
    auto sealed = seal_entry(keyring, previous,
                             {.seq = seq,
                              .at_ms = at_ms,
                              .actor = event.actor,
                              .source = event.source,
                              .action = event.action,
                              .target = event.target,
                              .outcome = event.outcome,
                              .details = boost::json::serialize(event.details)});
    if (!sealed) return sealed.error();
    audit_row row = to_audit_row(*sealed);
    if (auto appended = tx.append_audit(row); !appended) return appended.error();
    return row;
}

expected<chain_verdict> verify_audit_log(store_tx& tx, const master_keyring& keyring, std::size_t page) {
    std::optional<chain_anchor> anchor;
    std::int64_t after = 0;
    for (;;) {
        const auto rows = tx.audit_all(after, page);
        if (!rows) return rows.error();
        if (rows->empty()) return chain_verdict{};
        std::vector<audit_entry> entries;
        entries.reserve(rows->size());
        for (const auto& r : *rows) {
            auto e = to_audit_entry(r);
            if (!e) return chain_verdict{.fault = chain_fault::mac_mismatch, .bad_seq = r.seq, .message = e.error().message, .last_good = std::nullopt};
            entries.push_back(std::move(*e));
        }
        chain_verdict v = verify_chain(keyring, entries, anchor);
        if (v.fault != chain_fault::none) return v;
        anchor = chain_anchor{entries.back().seq, entries.back().mac};
        after = entries.back().seq;
    }
}

}  // namespace sessiond
