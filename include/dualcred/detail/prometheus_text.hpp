#pragma once

// The Prometheus text exposition format (0.0.4), written once for every exporter in the
// library: the connection metrics (`metrics_text`) and the rotation's status
// (`rotation::to_prometheus`).

#include <concepts>
#include <initializer_list>
#include <string_view>

#include <fmt/format.h>

namespace dualcred::detail {

// One `name="value"` pair of a sample; the name is a fixed identifier, the value any text.
struct prometheus_label {
  std::string_view name;
  std::string_view value;
};

// A label value in the text format: backslash, double quote and line feed escaped (the
// format's only escapes), every other byte as it is.
template <class Out>
Out write_prometheus_label_value(Out out, std::string_view s) {
  for (const char c : s) {
    switch (c) {
      case '\\':
        out = fmt::format_to(out, "\\\\");
        break;
      case '"':
        out = fmt::format_to(out, "\\\"");
        break;
      case '\n':
        out = fmt::format_to(out, "\\n");
        break;
      default:
        *out++ = c;
    }
  }
  return out;
}

// `# HELP` and `# TYPE` of a family, written once before its samples.
template <class Out>
Out write_prometheus_family(Out out, std::string_view name, std::string_view type,
                            std::string_view help) {
  return fmt::format_to(out, "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

// `name{l1="v1",l2="v2"} value`, the labels in the order given (`name{} value` for none
// would be legal, but every sample here has at least one).
template <class Out, std::integral Value>
Out write_prometheus_sample(Out out, std::string_view name,
                            std::initializer_list<prometheus_label> labels, Value value) {
  out = fmt::format_to(out, "{}{{", name);
  bool first = true;
  for (const auto& l : labels) {
    out = fmt::format_to(out, "{}{}=\"", first ? "" : ",", l.name);
    out = write_prometheus_label_value(out, l.value);
    *out++ = '"';
    first = false;
  }
  return fmt::format_to(out, "}} {}\n", value);
}

}  // namespace dualcred::detail
