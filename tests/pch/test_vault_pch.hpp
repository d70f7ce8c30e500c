// Precompiled for test_vault: the leak policy's hooks first (they must precede every dualcred
// header), then what its units include. Only speeds the build: each unit still includes what
// it uses.
#include <dualcred_testing/leak_audit.hpp>

#include <chrono>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <dualcred/dual_credential.hpp>
#include <dualcred/http/curl.hpp>
#include <dualcred/provider/vault.hpp>

#include <dualcred_testing/kv2_server.hpp>
#include <dualcred_testing/temp_dir.hpp>
