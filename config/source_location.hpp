#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace pigeon::config {

// Where a value came from in a YAML file, for error messages a person can jump to.
// Lines and columns are 1-based; an empty file means "not from a file" (defaults).
struct source_location {
  std::string file;
  int line = 0;
  int column = 0;

  // "file:line:col", or "<default>" when the value was not read from a file.
  std::string to_string() const;
};

// How bad an issue is: an error stops validate/apply (exit 1); a warning is printed and the
// command goes on (the exit code is unchanged).
enum class severity { error, warning };

// One problem found while loading or validating configuration.
struct config_issue {
  source_location where;
  std::string message;
  severity level = severity::error;

  // "file:line:col: message", or "file:line:col: warning: message"
  std::string to_string() const;
  bool is_error() const { return level == severity::error; }
};

// Thrown by the loaders (startup/config time only) with every issue found, not just the first.
// The values that `${NAME}` references were replaced with while loading config, recorded for the
// whole process: whatever pigeon prints about config (config_issue::to_string, so every error,
// warning and reload log line) shows `${NAME}` in their place, never a resolved secret. Values
// shorter than 4 characters are not recorded (they would blank out ordinary words).
// Thread-safe.
void remember_env_value(std::string_view name, std::string_view value);
std::string redact_env_values(std::string text);

class config_error : public std::runtime_error {
 public:
  explicit config_error(std::vector<config_issue> issues);
  const std::vector<config_issue>& issues() const { return issues_; }

 private:
  std::vector<config_issue> issues_;
};

}  // namespace pigeon::config
