#include "config/source_location.hpp"

#include <utility>

namespace pigeon::config {

std::string source_location::to_string() const {
  if (file.empty()) return "<default>";
  // Issues about the file as a whole (it cannot be read) have no line.
  if (line <= 0) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

std::string config_issue::to_string() const {
  return where.to_string() + (level == severity::warning ? ": warning: " : ": ") + message;
}

namespace {

std::string join_issues(const std::vector<config_issue>& issues) {
  std::string text;
  for (const auto& issue : issues) {
    if (!text.empty()) text += '\n';
    text += issue.to_string();
  }
  return text;
}

}  // namespace

// The base is built from `issues` before the member takes it over.
config_error::config_error(std::vector<config_issue> issues)
    : std::runtime_error(join_issues(issues)), issues_(std::move(issues)) {}

}  // namespace pigeon::config
