#pragma once

#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

#include "config/source_location.hpp"

// Prints string lists in failure messages, one item a line.
template <>
struct doctest::StringMaker<std::vector<std::string>> {
  static doctest::String convert(const std::vector<std::string>& items) {
    std::string text = "{";
    for (const auto& item : items) text += "\n  \"" + item + "\"";
    text += items.empty() ? "}" : "\n}";
    return text.c_str();
  }
};

namespace pigeon::config::testing {

// The issues a loader throws, as "file:line:col: message" strings; empty when it does not throw.
inline std::vector<std::string> issues_of(const std::function<void()>& load) {
  try {
    load();
  } catch (const config_error& error) {
    std::vector<std::string> issues;
    for (const auto& issue : error.issues()) issues.push_back(issue.to_string());
    return issues;
  }
  return {};
}

inline std::string fixture(const std::string& name) {
  return std::string(PIGEON_SOURCE_DIR) + "/tests/config/fixtures/" + name;
}

}  // namespace pigeon::config::testing
