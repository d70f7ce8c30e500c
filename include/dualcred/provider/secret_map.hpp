#pragma once

#include <functional>
#include <map>
#include <string>

#include "../secret.hpp"

namespace dualcred {

/// Every key of a source and its value, as providers read them and stores read and write
/// them whole (a dotenv file, a secret directory, a KV v2 secret). Values are secrets: the
/// map never prints them and zeroes them when destroyed.
using secret_map = std::map<std::string, secret, std::less<>>;

}  // namespace dualcred
