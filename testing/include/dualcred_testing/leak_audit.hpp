#pragma once
// A guard too: the precompiled headers of the tests start with this file, and the command
// line force-includes it again after them.
#ifndef DUALCRED_TESTING_LEAK_AUDIT_HPP
#define DUALCRED_TESTING_LEAK_AUDIT_HPP

// The suite's secret-leak policy. Force-included into every test translation unit (before any
// dualcred header), it routes dualcred's audit points here: every `secret` a test makes is
// remembered, and every error detail the library or a test makes is searched for each of them;
// values the library declares public (user names, phases read from a store) are not counted.
// The test runner fails the run when any detail held one (tests/support/doctest_main.cpp).
// Very short secrets ("x", "p1") are left out: they occur in ordinary words.

#include <cstddef>
#include <string_view>

namespace dualcred_testing {

/// Secrets shorter than this are not searched for.
inline constexpr std::size_t min_audited_secret = 5;

void audit_secret(std::string_view bytes) noexcept;
void audit_error_detail(std::string_view text) noexcept;
/// A value the library read as a secret but uses as public text (a user name, a phase).
void audit_public(std::string_view bytes) noexcept;
/// Prints each leak found so far (the test case, and the detail with the secret masked) and
/// returns how many there were.
std::size_t report_leaks() noexcept;

}  // namespace dualcred_testing

#define DUALCRED_AUDIT_SECRET(bytes) ::dualcred_testing::audit_secret(bytes)
#define DUALCRED_AUDIT_ERROR_DETAIL(text) ::dualcred_testing::audit_error_detail(text)
#define DUALCRED_AUDIT_PUBLIC(bytes) ::dualcred_testing::audit_public(bytes)

#endif  // DUALCRED_TESTING_LEAK_AUDIT_HPP
