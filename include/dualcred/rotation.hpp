#pragma once

// The rotation runbook as code: prepare NEXT, apply it to the backend, promote it to
// CURRENT, verify, decommission the old one, or roll back, each step idempotent and guarded
// by check-and-set. This umbrella holds the backend-agnostic parts; it needs nlohmann_json
// (the fleet check parses the instances' status JSON), as the `dualcred-vault` dependency
// brings. The backend admins and the Vault store have headers of their own, each bringing
// its own dependency:
//
// clang-format off
//   dualcred/rotation/pg/admin.hpp      libpq     pg::single_role_admin, pg::alternating_roles_admin
//   dualcred/rotation/redis/admin.hpp   hiredis   redis::acl_admin
//   dualcred/rotation/stores/vault.hpp  JSON      stores::vault_store<Http>
// clang-format on
#include "rotation/admin.hpp"
#include "rotation/fleet.hpp"
#include "rotation/password.hpp"
#include "rotation/rotator.hpp"
#include "rotation/state.hpp"
#include "rotation/store.hpp"
#include "rotation/store_provider.hpp"
#include "rotation/stores/file.hpp"
