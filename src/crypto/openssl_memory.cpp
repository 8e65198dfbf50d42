#include "sessiond/crypto/openssl_memory.hpp"

#include <openssl/crypto.h>

#include <malloc.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace sessiond {

namespace {

// What OpenSSL's own functions do (a zero size gives null), plus the wipe. malloc_usable_size is the
// whole block as the allocator sees it (the exact size under AddressSanitizer and valgrind).
void* wiping_malloc(std::size_t size, const char* /*file*/, int /*line*/) {
    return size == 0 ? nullptr : std::malloc(size);
}

void wiping_free(void* block, const char* /*file*/, int /*line*/) {
    if (block == nullptr) return;
    OPENSSL_cleanse(block, malloc_usable_size(block));
    std::free(block);
}

void* wiping_realloc(void* block, std::size_t size, const char* file, int line) {
    if (block == nullptr) return wiping_malloc(size, file, line);
    if (size == 0) {
        wiping_free(block, file, line);
        return nullptr;
    }
    // Never realloc(): it would free the old block unwiped.
    void* moved = std::malloc(size);
    if (moved == nullptr) return nullptr;
    std::memcpy(moved, block, std::min(size, malloc_usable_size(block)));
    wiping_free(block, file, line);
    return moved;
}

}  // namespace

bool wipe_openssl_memory_when_freed() noexcept {
    return CRYPTO_set_mem_functions(wiping_malloc, wiping_realloc, wiping_free) == 1;
}

bool openssl_memory_is_wiped() noexcept {
    CRYPTO_malloc_fn m = nullptr;
    CRYPTO_realloc_fn r = nullptr;
    CRYPTO_free_fn f = nullptr;
    CRYPTO_get_mem_functions(&m, &r, &f);
    return m == wiping_malloc && r == wiping_realloc && f == wiping_free;
}

}  // namespace sessiond
