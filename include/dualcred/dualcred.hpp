#pragma once

// The core: values, errors, the fallback and its policies. Optional parts (providers,
// HTTP transports, backends, rotation) have headers of their own.
#include "concepts.hpp"
#include "dual_credential.hpp"
#include "error.hpp"
#include "log_policy.hpp"
#include "options.hpp"
#include "policy.hpp"
#include "secret.hpp"
#include "status.hpp"
#include "version.hpp"
