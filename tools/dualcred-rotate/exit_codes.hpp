#pragma once

// dualcred-rotate's exit codes: one per kind of failure, so a scheduler or a script can react
// to each. A contract: codes are only ever added (after 9), each documented in --help and in
// docs/operations.md's exit-code table.

namespace dualcred_rotate {

enum exit_code : int {
  exit_ok = 0,
  exit_other = 1,
  exit_usage = 2,            // bad flags or environment, or a secret offered on the command line
  exit_store = 3,            // the secret store could not be read or written
  exit_conflict = 4,         // someone else wrote the store meanwhile (check-and-set)
  exit_backend_down = 5,     // the database or cache could not be reached
  exit_admin_refused = 6,    // the backend refused the admin: login, privilege, missing user
  exit_verify = 7,           // the new CURRENT could not log in
  exit_fleet = 8,            // instances did not report the new version in time
  exit_order = 9,            // the step does not fit where the rotation stands
  exit_replay_timeout = 10,  // a hot standby did not replay a change within --replay-timeout
  exit_stuck = 11,           // status --stuck-after: a rotation sat in a non-idle phase too long
  exit_locked = 13,          // another rotator holds the rotation lock (its holder named)
};

}  // namespace dualcred_rotate
