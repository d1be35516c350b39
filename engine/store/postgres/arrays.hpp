#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// PostgreSQL array literals ("{1,2,3}", "{\"a\",NULL}"), so that a batch travels as a few text
// parameters of one statement (`SELECT * FROM unnest($1::bigint[], $2::text[])`) instead of one
// statement, and one round trip, per row.
namespace pigeon::engine::postgres {

inline void append_array_element(std::string& out, std::int64_t value) {
  out += std::to_string(value);
}

inline void append_array_element(std::string& out, int value) { out += std::to_string(value); }

// Quoted, with `"` and `\` escaped: any text survives, including "NULL", commas and braces.
inline void append_array_element(std::string& out, std::string_view value) {
  out += '"';
  for (char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

inline void append_array_element(std::string& out, const std::string& value) {
  append_array_element(out, std::string_view(value));
}

template <typename T>
void append_array_element(std::string& out, const std::optional<T>& value) {
  if (value)
    append_array_element(out, *value);
  else
    out += "NULL";
}

// The literal of `values`, element by element through `project` (e.g. a member of a row).
template <typename Range, typename Project>
std::string array_literal(const Range& values, Project project) {
  std::string out = "{";
  bool first = true;
  for (const auto& v : values) {
    if (!first) out += ',';
    first = false;
    append_array_element(out, project(v));
  }
  out += '}';
  return out;
}

template <typename T>
std::string array_literal(const std::vector<T>& values) {
  return array_literal(values, [](const T& v) -> const T& { return v; });
}

}  // namespace pigeon::engine::postgres
