// Precompiled for test_tool_examples: the leak policy's hooks first (they must precede every
// dualcred header), then what most of its units include. Only speeds the build: each unit
// still includes what it uses.
#include <dualcred_testing/leak_audit.hpp>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <dualcred/rotation.hpp>

#include <dualcred_testing/postgres.hpp>
#include <dualcred_testing/redis.hpp>
#include <dualcred_testing/temp_dir.hpp>
