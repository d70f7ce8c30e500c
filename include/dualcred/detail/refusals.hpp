#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "../error.hpp"
#include "../secret.hpp"

namespace dualcred::detail {

// Why each slot was refused during one connect, kept for the all_rejected detail; empty on
// the happy path. Allocated on the first refusal: GCC zero-fills a std::optional<error>'s
// storage, and clearing 112 bytes on every connect cost more than the rest of the happy path.
class refusals {
 public:
  void add(slot which, error e) {
    if (!by_slot_) by_slot_ = std::make_unique<std::array<std::optional<error>, 2>>();
    (*by_slot_)[static_cast<std::size_t>(which)] = std::move(e);
  }

  // The all_rejected detail: each slot's refusal and the reload's failure, if any.
  [[nodiscard]] std::string describe(const std::optional<error>& load_error) const {
    std::string out = "every credential was refused";
    for (const slot s : {slot::current, slot::next}) {
      if (by_slot_ && (*by_slot_)[static_cast<std::size_t>(s)])
        out += fmt::format("; {}: {}", s, (*by_slot_)[static_cast<std::size_t>(s)]->detail);
    }
    if (load_error) out += fmt::format("; reload failed: {}", load_error->detail);
    return out;
  }

 private:
  std::unique_ptr<std::array<std::optional<error>, 2>> by_slot_;
};

}  // namespace dualcred::detail
