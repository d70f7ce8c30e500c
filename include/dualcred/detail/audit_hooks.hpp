#pragma once

// Audit points: every secret the library is given, every error detail it writes, and every
// value it read as a secret but uses as public text (a user name, a rotation phase: a store
// cannot tell its keys apart, so it reads every value as a secret) pass through these macros. They
// do nothing unless defined before the first dualcred include; the test suite defines them to prove
// that no secret ever reaches an error detail (testing/include/dualcred_testing/leak_audit.hpp). A
// hardened build may do the same.
#ifndef DUALCRED_AUDIT_SECRET
#define DUALCRED_AUDIT_SECRET(bytes) static_cast<void>(0)
#endif
#ifndef DUALCRED_AUDIT_ERROR_DETAIL
#define DUALCRED_AUDIT_ERROR_DETAIL(text) static_cast<void>(0)
#endif
#ifndef DUALCRED_AUDIT_PUBLIC
#define DUALCRED_AUDIT_PUBLIC(bytes) static_cast<void>(0)
#endif
