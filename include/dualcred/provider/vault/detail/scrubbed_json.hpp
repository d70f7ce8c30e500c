#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "../../../detail/secure_zero.hpp"

namespace dualcred::provider::vault::detail {

using json = nlohmann::json;

// Zeroes every string value in `v` in place. Object keys are field names, not secrets.
inline void scrub_json(json& v) noexcept {
  switch (v.type()) {
    case json::value_t::string: {
      auto& s = v.get_ref<std::string&>();
      dualcred::detail::secure_zero(s.data(), s.size());
      break;
    }
    case json::value_t::array:
      for (auto& e : v) scrub_json(e);
      break;
    case json::value_t::object:
      for (auto& [key, e] : v.items()) scrub_json(e);
      break;
    default:
      break;
  }
}

// Builds a DOM like nlohmann's own SAX DOM builder, with two differences that matter for
// secrets: the lexer's string buffer is zeroed as soon as a value is copied out of it, and a
// duplicate key scrubs the value it replaces. It also refuses nesting deeper than
// `max_depth`, so a hostile body cannot build a deep tree.
class scrubbing_dom_builder {
 public:
  scrubbing_dom_builder(json& root, std::size_t max_depth) : root_(root), max_depth_(max_depth) {}

  bool null() { return put(nullptr) != nullptr; }
  bool boolean(bool v) { return put(v) != nullptr; }
  bool number_integer(json::number_integer_t v) { return put(v) != nullptr; }
  bool number_unsigned(json::number_unsigned_t v) { return put(v) != nullptr; }
  bool number_float(json::number_float_t v, const json::string_t&) { return put(v) != nullptr; }
  bool string(json::string_t& v) {
    const bool ok = put(v) != nullptr;
    dualcred::detail::secure_zero(v.data(), v.size());
    return ok;
  }
  bool binary(json::binary_t&) { return false; }  // JSON text has none

  bool start_object(std::size_t) { return open(json::object()); }
  bool key(json::string_t& k) {
    json& slot = (*stack_.back())[k];
    scrub_json(slot);  // a repeated key: the value it replaces goes scrubbed
    slot = nullptr;
    pending_ = &slot;
    return true;
  }
  bool end_object() { return close(); }
  bool start_array(std::size_t) { return open(json::array()); }
  bool end_array() { return close(); }

  template <class Exception>
  bool parse_error(std::size_t position, const std::string&, const Exception&) {
    error_offset_ = position;
    return false;
  }

  [[nodiscard]] std::size_t error_offset() const noexcept { return error_offset_; }
  [[nodiscard]] bool too_deep() const noexcept { return too_deep_; }

 private:
  template <class V>
  json* put(V&& v) {
    if (stack_.empty()) {
      root_ = json(std::forward<V>(v));
      return &root_;
    }
    json& top = *stack_.back();
    if (top.is_array()) {
      top.emplace_back(std::forward<V>(v));
      return &top.back();
    }
    *pending_ = json(std::forward<V>(v));
    return pending_;
  }
  bool open(json empty) {
    if (stack_.size() >= max_depth_) {
      too_deep_ = true;
      return false;
    }
    stack_.push_back(put(std::move(empty)));
    return true;
  }
  bool close() {
    stack_.pop_back();
    return true;
  }

  json& root_;
  std::size_t max_depth_;
  std::vector<json*> stack_;
  json* pending_ = nullptr;
  std::size_t error_offset_ = 0;
  bool too_deep_ = false;
};

// A parsed JSON document whose strings are zeroed when it is destroyed or re-parsed.
//
// What it cannot scrub: nlohmann's lexer accumulates each token in two buffers of its own
// (the decoded string and the raw bytes, for error messages). `scrubbing_dom_builder` zeroes
// the first after each string; the raw-bytes buffer, and copies left behind when either
// buffer grew, are freed without being zeroed. They hold fragments of the body, which the
// caller scrubs separately.
class scrubbed_json {
 public:
  /// Nesting deeper than this is refused; Vault's responses nest four levels at most.
  static constexpr std::size_t default_max_depth = 32;

  scrubbed_json() = default;
  scrubbed_json(const scrubbed_json&) = delete;
  scrubbed_json& operator=(const scrubbed_json&) = delete;
  ~scrubbed_json() { scrub_json(value_); }

  // True when `text` is exactly one JSON value nested at most `max_depth` deep. Never
  // throws: malformed text gives false and `error_offset()` the byte where parsing stopped.
  [[nodiscard]] bool parse(std::string_view text, std::size_t max_depth = default_max_depth) {
    scrub_json(value_);
    value_ = json();
    scrubbing_dom_builder builder(value_, max_depth);
    const bool ok = json::sax_parse(text.begin(), text.end(), &builder);
    error_offset_ = builder.too_deep() ? text.size() : builder.error_offset();
    too_deep_ = builder.too_deep();
    if (!ok) {
      scrub_json(value_);
      value_ = json();
    }
    return ok;
  }

  [[nodiscard]] const json& value() const noexcept { return value_; }
  [[nodiscard]] std::size_t error_offset() const noexcept { return error_offset_; }
  [[nodiscard]] bool too_deep() const noexcept { return too_deep_; }

 private:
  json value_;
  std::size_t error_offset_ = 0;
  bool too_deep_ = false;
};

}  // namespace dualcred::provider::vault::detail
