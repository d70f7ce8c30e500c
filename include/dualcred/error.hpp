#pragma once

#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include <boost/outcome/bad_access.hpp>
#include <boost/outcome/basic_result.hpp>
#include <boost/outcome/try.hpp>

#include "detail/audit_hooks.hpp"

namespace dualcred {

/// What went wrong, independent of the backend or store that said so.
enum class errc {
  auth_rejected = 1,     ///< the backend refused this credential
  all_rejected,          ///< every credential was refused, even after a reload
  not_found,             ///< a key, file, variable or secret path does not exist
  malformed,             ///< input exists but cannot be parsed or is empty
  permission_denied,     ///< the store or file refused access
  provider_unavailable,  ///< the secret store could not be reached or is failing
  backend_unavailable,   ///< the database or cache could not be reached
  timeout,               ///< a deadline passed
  invalid_argument,      ///< the caller's configuration is wrong
  conflict,              ///< a check-and-set write lost a race
  locked,                ///< another holder has the lock (a rotator mid-step)
};

namespace detail {
class error_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "dualcred"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::auth_rejected:
        return "credential rejected by the backend";
      case errc::all_rejected:
        return "every credential was rejected";
      case errc::not_found:
        return "not found";
      case errc::malformed:
        return "malformed input";
      case errc::permission_denied:
        return "permission denied";
      case errc::provider_unavailable:
        return "secret provider unavailable";
      case errc::backend_unavailable:
        return "backend unavailable";
      case errc::timeout:
        return "timed out";
      case errc::invalid_argument:
        return "invalid argument";
      case errc::conflict:
        return "check-and-set conflict";
      case errc::locked:
        return "held by another holder";
    }
    return "unknown dualcred error";
  }
  std::error_condition default_error_condition(int ev) const noexcept override {
    // Lets callers test against the portable conditions they already know.
    switch (static_cast<errc>(ev)) {
      case errc::auth_rejected:
      case errc::all_rejected:
      case errc::permission_denied:
        return std::errc::permission_denied;
      case errc::not_found:
        return std::errc::no_such_file_or_directory;
      case errc::timeout:
        return std::errc::timed_out;
      case errc::invalid_argument:
      case errc::malformed:
        return std::errc::invalid_argument;
      default:
        return {ev, *this};
    }
  }
};
}  // namespace detail

/// The category of `errc`; one object for the whole program.
inline const std::error_category& error_category() noexcept {
  static const detail::error_category_impl category;
  return category;
}

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

/// The short name of an `errc` (`"auth_rejected"`), for logs and JSON.
[[nodiscard]] constexpr std::string_view to_string(errc e) noexcept {
  switch (e) {
    case errc::auth_rejected:
      return "auth_rejected";
    case errc::all_rejected:
      return "all_rejected";
    case errc::not_found:
      return "not_found";
    case errc::malformed:
      return "malformed";
    case errc::permission_denied:
      return "permission_denied";
    case errc::provider_unavailable:
      return "provider_unavailable";
    case errc::backend_unavailable:
      return "backend_unavailable";
    case errc::timeout:
      return "timeout";
    case errc::invalid_argument:
      return "invalid_argument";
    case errc::conflict:
      return "conflict";
    case errc::locked:
      return "locked";
  }
  return "unknown";
}

}  // namespace dualcred

template <>
struct std::is_error_code_enum<dualcred::errc> : std::true_type {};

namespace dualcred {

/// A failure: a code to branch on and a detail for humans.
/// `detail` names what failed and why; it never holds a password or token.
struct error {
  std::error_code code;
  std::string detail;

  error() = default;
  error(std::error_code c, std::string d) : code(c), detail(std::move(d)) {
    DUALCRED_AUDIT_ERROR_DETAIL(detail);
  }
  error(errc c, std::string d) : code(make_error_code(c)), detail(std::move(d)) {
    DUALCRED_AUDIT_ERROR_DETAIL(detail);
  }

  [[nodiscard]] bool is(errc e) const noexcept { return code == make_error_code(e); }
};

/// Whether the backend refused the credential itself, so another credential may succeed.
[[nodiscard]] inline bool is_auth_failure(const error& e) noexcept {
  return e.is(errc::auth_rejected);
}

namespace detail {
// Reaching for the value of a failed result throws `bad_result_access_with<error>` where
// exceptions exist, and terminates where they do not (-fno-exceptions).
struct result_policy : boost::outcome_v2::policy::base {
  template <class Impl>
  static constexpr void wide_value_check(Impl&& self) {
    if (!base::_has_value(self)) {
#if defined(__cpp_exceptions)
      if (base::_has_error(self))
        throw boost::outcome_v2::bad_result_access_with<error>(base::_error(self));
      throw boost::outcome_v2::bad_result_access("no value");
#else
      std::abort();
#endif
    }
  }
  template <class Impl>
  static constexpr void wide_error_check(Impl&& self) {
    if (!base::_has_error(self)) {
#if defined(__cpp_exceptions)
      throw boost::outcome_v2::bad_result_access("no error");
#else
      std::abort();
#endif
    }
  }
  template <class Impl>
  static constexpr void wide_exception_check(Impl&& self) {
    wide_error_check(self);
  }
};
}  // namespace detail

/// A `T` or an `error`.
template <class T>
using result = boost::outcome_v2::basic_result<T, error, detail::result_policy>;

/// Shorthand for returning a failure: `return fail(errc::not_found, "DB_USER is not set");`
[[nodiscard]] inline auto fail(errc code, std::string detail) {
  return boost::outcome_v2::failure(error(code, std::move(detail)));
}

}  // namespace dualcred

/// `DUALCRED_TRY(v, expr)` declares `v` from a successful `expr`, or returns its error;
/// `DUALCRED_TRY(expr)` only returns the error. Written out rather than forwarded to
/// `BOOST_OUTCOME_TRY`, whose declaration syntax differs between Boost 1.74 (`v`) and 1.76 and
/// later (`auto&& v`), so the same code builds against either.
#define DUALCRED_TRY(...)                                                                     \
  DUALCRED_DETAIL_TRY_PICK(__VA_ARGS__, DUALCRED_DETAIL_TRY_VALUE, DUALCRED_DETAIL_TRY_ERROR) \
  (DUALCRED_DETAIL_CAT(dualcred_try_, __COUNTER__), __VA_ARGS__)
#define DUALCRED_DETAIL_TRY_PICK(first, second, chosen, ...) chosen
#define DUALCRED_DETAIL_CAT(a, b) DUALCRED_DETAIL_CAT_(a, b)
#define DUALCRED_DETAIL_CAT_(a, b) a##b
#define DUALCRED_DETAIL_TRY_ERROR(unique, ...) \
  auto&& unique = (__VA_ARGS__);               \
  if (!unique.has_value()) return std::move(unique).as_failure()
#define DUALCRED_DETAIL_TRY_VALUE(unique, var, ...) \
  DUALCRED_DETAIL_TRY_ERROR(unique, __VA_ARGS__);   \
  auto&& var = std::move(unique).assume_value()
