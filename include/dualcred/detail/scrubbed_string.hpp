#pragma once

#include <string>
#include <utility>

#include "secure_zero.hpp"

namespace dualcred::detail {

// A std::string whose buffer is zeroed, to its whole capacity, when it is destroyed, moved
// from or wiped: for text that holds secrets but is not itself one `secret` (a conninfo
// handed to libpq, an SQL statement with a password literal, a file of other users'
// verifiers). Not copyable. `s` is the string itself; `reserve` it to its final size before
// appending, since a growth by reallocation frees the old buffer without zeroing it.
struct scrubbed_string {
  std::string s;

  scrubbed_string() = default;
  // A small string's bytes live inside the object, so a move copies them and leaves them in
  // the source: the source is wiped too.
  scrubbed_string(scrubbed_string&& other) noexcept : s(std::move(other.s)) { other.wipe(); }
  scrubbed_string& operator=(scrubbed_string&& other) noexcept {
    if (this != &other) {
      wipe();
      s = std::move(other.s);
      other.wipe();
    }
    return *this;
  }
  scrubbed_string(const scrubbed_string&) = delete;
  scrubbed_string& operator=(const scrubbed_string&) = delete;
  ~scrubbed_string() { wipe(); }

  // Zeroes every byte of the buffer (growing the size to the capacity never reallocates),
  // then empties the string, keeping the buffer.
  void wipe() noexcept {
    s.resize(s.capacity());
    secure_zero(s.data(), s.size());
    s.clear();
  }
};

}  // namespace dualcred::detail
