#include "sessiond/vault/canonical_encoding.hpp"

#include <limits>
#include <stdexcept>

namespace sessiond {

void append_u32_be(std::string& out, std::uint32_t value) {
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((value >> shift) & 0xff);
}

std::uint32_t read_u32_be(std::string_view in) {
    std::uint32_t value = 0;
    for (std::size_t i = 0; i < 4; ++i) value = (value << 8) | static_cast<unsigned char>(in[i]);
    return value;
}

canonical_fields& canonical_fields::text(std::string_view field) {
    if (field.size() > std::numeric_limits<std::uint32_t>::max())
        throw std::length_error("canonical_fields: a field longer than 4 GiB");
    append_u32_be(bytes_, static_cast<std::uint32_t>(field.size()));
    bytes_.append(field);
    return *this;
}

canonical_fields& canonical_fields::u32(std::uint32_t value) {
    append_u32_be(bytes_, 4);
    append_u32_be(bytes_, value);
    return *this;
}

canonical_fields& canonical_fields::i64(std::int64_t value) {
    const auto bits = static_cast<std::uint64_t>(value);
    append_u32_be(bytes_, 8);
    append_u32_be(bytes_, static_cast<std::uint32_t>(bits >> 32));
    append_u32_be(bytes_, static_cast<std::uint32_t>(bits & 0xffffffffu));
    return *this;
}

}  // namespace sessiond
