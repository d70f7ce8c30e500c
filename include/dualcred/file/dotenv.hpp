#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "../detail/secure_zero.hpp"
#include "../error.hpp"
#include "../provider/secret_map.hpp"
#include "../provider/value_rules.hpp"
#include "../secret.hpp"

namespace dualcred::file {

// Parses a dotenv file: `KEY=VALUE` lines, an optional `export ` prefix, `#` comments,
// single quotes (literal) and double quotes (with \n \t \" \\ escapes). Errors name the
// line and, once known, the key, never the value. The file provider and the dotenv store
// both read through it; `dotenv_writer` writes what it reads back unchanged.
class dotenv_parser {
 public:
  static result<secret_map> parse(std::string_view text, std::string_view source) {
    // A NUL is no text: refused whole, so no value is cut at it.
    if (text.find('\0') != std::string_view::npos)
      return fail(errc::malformed, fmt::format("{} is binary, not a dotenv file", source));
    secret_map out;
    std::size_t line_no = 0;
    while (!text.empty()) {
      ++line_no;
      const std::size_t end = text.find('\n');
      std::string_view line = text.substr(0, end);
      text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      auto parsed = parse_line(line, source, line_no, out);
      if (!parsed) return std::move(parsed).as_failure();
    }
    return out;
  }

 private:
  static constexpr std::string_view blanks = " \t";

  static std::string_view trim_left(std::string_view s) {
    const std::size_t i = s.find_first_not_of(blanks);
    return i == std::string_view::npos ? std::string_view() : s.substr(i);
  }
  static std::string_view trim_right(std::string_view s) {
    const std::size_t i = s.find_last_not_of(blanks);
    return i == std::string_view::npos ? std::string_view() : s.substr(0, i + 1);
  }

  static result<void> parse_line(std::string_view line, std::string_view source,
                                 std::size_t line_no, secret_map& out) {
    line = trim_left(line);
    if (line.empty() || line.front() == '#') return boost::outcome_v2::success();
    if (line.starts_with("export ")) line = trim_left(line.substr(7));

    std::size_t k = 0;
    while (k < line.size() && provider::is_key_char(line[k], k == 0)) ++k;
    if (k == 0)
      return fail(errc::malformed,
                  fmt::format("{} line {}: expected a KEY=VALUE line", source, line_no));
    const std::string key(line.substr(0, k));
    std::string_view rest = trim_left(line.substr(k));
    if (rest.empty() || rest.front() != '=')
      return fail(errc::malformed,
                  fmt::format("{} line {}: expected '=' after {}", source, line_no, key));
    rest = trim_left(rest.substr(1));

    std::string value;
    value.reserve(rest.size());  // no reallocation, so no stray copy of the value is left
    auto scrub = [&] { dualcred::detail::secure_zero(value.data(), value.size()); };
    if (!rest.empty() && (rest.front() == '"' || rest.front() == '\'')) {
      const char quote = rest.front();
      std::size_t i = 1;
      bool closed = false;
      for (; i < rest.size(); ++i) {
        const char c = rest[i];
        if (c == quote) {
          closed = true;
          break;
        }
        if (quote == '"' && c == '\\' && i + 1 < rest.size()) {
          const char e = rest[++i];
          value.push_back(e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e);
        } else {
          value.push_back(c);
        }
      }
      if (!closed) {
        scrub();
        return fail(errc::malformed, fmt::format("{} line {}: unterminated {} quote in {}", source,
                                                 line_no, quote == '"' ? "double" : "single", key));
      }
      const std::string_view after = trim_left(rest.substr(i + 1));
      if (!after.empty() && after.front() != '#') {
        scrub();
        return fail(errc::malformed, fmt::format("{} line {}: unexpected text after the quoted "
                                                 "value of {}",
                                                 source, line_no, key));
      }
    } else {
      // Unquoted: a comment starts at a '#' that follows a blank.
      std::size_t cut = rest.size();
      for (std::size_t i = 1; i < rest.size(); ++i)
        if (rest[i] == '#' && (rest[i - 1] == ' ' || rest[i - 1] == '\t')) {
          cut = i;
          break;
        }
      value.assign(trim_right(rest.substr(0, cut)));
    }
    out.insert_or_assign(key, secret(std::move(value)));
    return boost::outcome_v2::success();
  }
};

// Writes `KEY="value"` lines that `dotenv_parser` reads back as written: every value
// double-quoted, with `\\ \" \n \r \t` escaped. Comments and layout are not kept.
struct dotenv_writer {
  // An upper bound of one line's size, to reserve the whole file once (no reallocation
  // leaves a copy of a value behind).
  [[nodiscard]] static std::size_t line_size(std::string_view key, std::string_view value) {
    return key.size() + 2 * value.size() + 4;
  }

  static void append(std::string& out, std::string_view key, std::string_view value) {
    out.append(key);
    out.append("=\"");
    for (const char c : value) {
      switch (c) {
        case '\\':
          out.append("\\\\");
          break;
        case '"':
          out.append("\\\"");
          break;
        case '\n':
          out.append("\\n");
          break;
        case '\r':
          out.append("\\r");
          break;
        case '\t':
          out.append("\\t");
          break;
        default:
          out.push_back(c);
      }
    }
    out.append("\"\n");
  }
};

}  // namespace dualcred::file
