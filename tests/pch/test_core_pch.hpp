// Precompiled for test_core: the leak policy's hooks first (they must precede every dualcred
// header), then what its units include. Only speeds the build: each unit still includes what
// it uses (and tests/headers proves each public header compiles alone).
#include <dualcred_testing/leak_audit.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include <dualcred/dualcred.hpp>
#include <dualcred/health.hpp>
#include <dualcred/metrics.hpp>
#include <dualcred/provider/static.hpp>
