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

namespace {

void pass_over(std::vector<unverifiable_entries>& runs, const audit_entry& e) {
    if (!runs.empty() && runs.back().key_version == e.key_version && runs.back().last_seq + 1 == e.seq)
        runs.back().last_seq = e.seq;
    else runs.push_back({e.key_version, e.seq, e.seq});
}

}  // namespace

expected<bool> verify_audit_page(store_tx& tx, const master_keyring& keyring, audit_log_verdict& so_far,
                                 std::size_t page) {
    if (!so_far.chain.intact()) return false;
    std::optional<chain_anchor>& anchor = so_far.chain.last_good;
    const auto rows = tx.audit_all(anchor ? anchor->seq : 0, page);
    if (!rows) return rows.error();
    if (rows->empty()) return false;
    std::vector<audit_entry> entries;
    entries.reserve(rows->size());
    for (const auto& r : *rows) {
        auto e = to_audit_entry(r);
        if (!e) {
            so_far.chain = {.fault = chain_fault::mac_mismatch, .bad_seq = r.seq, .message = e.error().message,
                            .last_good = anchor};
            return false;
        }
        entries.push_back(std::move(*e));
    }
    std::span<const audit_entry> rest(entries);
    while (!rest.empty()) {
        chain_verdict v = verify_chain(keyring, rest, anchor);
        if (v.fault == chain_fault::unknown_key_version) {
            // The entries before it are consecutive (a gap would have been the fault): its index.
            const auto at = static_cast<std::size_t>(v.bad_seq - rest.front().seq);
            pass_over(so_far.unverifiable, rest[at]);
            anchor = chain_anchor{rest[at].seq, rest[at].mac};
            rest = rest.subspan(at + 1);
            continue;
        }
        if (!v.intact()) {
            so_far.chain = std::move(v);
            return false;
        }
        anchor = v.last_good;
        break;
    }
    so_far.entries += static_cast<std::int64_t>(entries.size());
    return true;
}

expected<audit_log_verdict> verify_audit_log(store_tx& tx, const master_keyring& keyring, std::size_t page) {
    audit_log_verdict out;
    for (;;) {
        const auto more = verify_audit_page(tx, keyring, out, page);
        if (!more) return more.error();
        if (!*more) return out;
    }
}

}  // namespace sessiond
