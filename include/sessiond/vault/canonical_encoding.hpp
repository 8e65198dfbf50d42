#pragma once
// The canonical encoding of a tuple of fields, which the vault authenticates (the associated data of
// a credential record's two layers, an audit entry's MAC input): each field is a 4-byte big-endian
// length followed by its bytes, and an integer is a field of its fixed width in big-endian order.
// Length prefixes make it unambiguous: ("ab", "c") and ("a", "bc") never encode alike.

#include <cstdint>
#include <string>
#include <string_view>

namespace sessiond {

class canonical_fields {
public:
    // A field longer than 4 GiB cannot be encoded: throws std::length_error (a programming error,
    // the callers' fields are short names and values).
    canonical_fields& text(std::string_view field);
    canonical_fields& u32(std::uint32_t value);  // length 4
    canonical_fields& i64(std::int64_t value);   // length 8, two's complement
    [[nodiscard]] const std::string& bytes() const noexcept { return bytes_; }

private:
    std::string bytes_;
};

void append_u32_be(std::string& out, std::uint32_t value);
// The value of the first four bytes of in, big-endian; in must hold at least four bytes.
std::uint32_t read_u32_be(std::string_view in);

}  // namespace sessiond
