#pragma once

// The core: values, errors, the fallback, its policies and its health/metrics views (fmt
// only). Optional parts (providers, HTTP transports, backends, rotation) have headers of
// their own.
#include "concepts.hpp"
#include "dual_credential.hpp"
#include "error.hpp"
#include "health.hpp"
#include "log_policy.hpp"
#include "metrics.hpp"
#include "options.hpp"
#include "policy.hpp"
#include "refresher.hpp"
#include "secret.hpp"
#include "status.hpp"
#include "version.hpp"
