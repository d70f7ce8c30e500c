// Precompiled for test_rotation: the leak policy's hooks first (they must precede every
// dualcred header), then what most of its units include. Only speeds the build: each unit
// still includes what it uses.
#include <dualcred_testing/leak_audit.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <dualcred/backend/hiredis_sentinel.hpp>
#include <dualcred/provider/file.hpp>
#include <dualcred/rotation.hpp>
#include <dualcred/rotation/pg/admin.hpp>
#include <dualcred/rotation/redis/admin.hpp>
#include <dualcred/rotation/stores/vault.hpp>

#include <dualcred_testing/kv2_server.hpp>
#include <dualcred_testing/postgres.hpp>
#include <dualcred_testing/redis.hpp>
#include <dualcred_testing/temp_dir.hpp>
