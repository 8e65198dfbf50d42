#pragma once
// OpenSSL frees buffers that held key material without wiping them: decoding a private key copies
// its DER into a buffer of its own (the provider's DER reader) and frees it as is, so a user's key
// stayed readable in the daemon's freed heap long after the key itself was wiped. The daemon makes
// every OpenSSL free wipe first.

namespace sessiond {

// Makes OpenSSL's allocations wipe their memory when freed (and when moved by a realloc). OpenSSL
// takes new memory functions only before its first allocation: call it from a constructor that
// runs before any other (daemon/sessiond_main.cpp). False when it was too late.
bool wipe_openssl_memory_when_freed() noexcept;

// Whether OpenSSL's memory functions are the wiping ones.
[[nodiscard]] bool openssl_memory_is_wiped() noexcept;

}  // namespace sessiond
