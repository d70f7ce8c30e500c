#pragma once

// Audit points: every secret the library is given and every error detail it writes pass
// through these two macros. They do nothing unless defined before the first dualcred include;
// the test suite defines them to prove that no secret ever reaches an error detail
// (testing/include/dualcred_testing/leak_audit.hpp). A hardened build may do the same.
#ifndef DUALCRED_AUDIT_SECRET
#define DUALCRED_AUDIT_SECRET(bytes) static_cast<void>(0)
#endif
#ifndef DUALCRED_AUDIT_ERROR_DETAIL
#define DUALCRED_AUDIT_ERROR_DETAIL(text) static_cast<void>(0)
#endif
