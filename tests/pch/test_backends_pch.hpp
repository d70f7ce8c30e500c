// Precompiled for test_backends: the leak policy's hooks first (they must precede every
// dualcred header), then what its units include. Only speeds the build: each unit still
// includes what it uses.
#include <dualcred_testing/leak_audit.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include <dualcred/backend/hiredis.hpp>
#include <dualcred/backend/libpq.hpp>
#include <dualcred/dual_credential.hpp>

#include <dualcred_testing/postgres.hpp>
#include <dualcred_testing/redis.hpp>
