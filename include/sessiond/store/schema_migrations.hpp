#pragma once
// The store's schema, as an ordered list of versioned migrations. Opening a database applies, in
// one write transaction, each migration its schema_migrations table does not record yet, and
// records it: exactly once however often, and by however many processes one after another, the
// file is opened. A database that records a version this binary does not know (a newer binary
// wrote it) is refused: running old code on a newer schema could corrupt what it does not know.
//
// A released migration is never edited: a change to the schema is a new migration at the end.

#include "sessiond/core/error.hpp"
#include "sessiond/store/database.hpp"

#include <cstdint>
#include <span>
#include <string_view>

namespace sessiond {

struct schema_migration {
    std::int64_t version;  // 1, 2, 3 ... in order, no gap
    std::string_view sql;  // portable statements; "{blob}" for the byte-string type (engine_sql)
};

// The store's migrations, oldest first.
std::span<const schema_migration> store_migrations();

// Inside the caller's transaction: applies what `migrations` has that `schema_migrations` does not
// record, stamping each with applied_at_ms. Returns how many it applied (0 when up to date).
expected<std::int64_t> apply_migrations(sql_connection& sql, std::span<const schema_migration> migrations,
                                        std::int64_t applied_at_ms);

}  // namespace sessiond
