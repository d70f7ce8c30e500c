#pragma once

// The rotation runbook as code: prepare NEXT, apply it to the backend, promote it to
// CURRENT, verify, decommission the old one, or roll back, each step idempotent and guarded
// by check-and-set. This umbrella holds the backend-agnostic parts and needs only the core's
// dependencies (the `dualcred-rotation` dependency). The fleet check over HTTP, the backend
// admins and the Vault store have headers of their own, each bringing its own dependency:
//
// clang-format off
//   dualcred/rotation/fleet/http_check.hpp  JSON      fleet::http_check, fleet::http_fetch
//   dualcred/rotation/pg/admin.hpp          libpq     pg::single_role_admin, pg::alternating_roles_admin
//   dualcred/rotation/redis/admin.hpp       hiredis   redis::acl_admin
//   dualcred/rotation/stores/vault.hpp      JSON      stores::vault_store<Http>
// clang-format on
#include "rotation/admin.hpp"
#include "rotation/fleet.hpp"
#include "rotation/password.hpp"
#include "rotation/rotator.hpp"
#include "rotation/state.hpp"
#include "rotation/store.hpp"
#include "rotation/store_provider.hpp"
#include "rotation/stores/file.hpp"
