#include "config/source_location.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

namespace pigeon::config {

std::string source_location::to_string() const {
  if (file.empty()) return "<default>";
  // Issues about the file as a whole (it cannot be read) have no line.
  if (line <= 0) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

namespace {

struct env_values {
  std::mutex mutex;
  std::map<std::string, std::string, std::less<>> by_value;  // value -> "${NAME}"
};

env_values& recorded_env_values() {
  static env_values values;
  return values;
}

}  // namespace

void remember_env_value(std::string_view name, std::string_view value) {
  if (value.size() < 4) return;
  auto& r = recorded_env_values();
  std::lock_guard lock(r.mutex);
  r.by_value.insert_or_assign(std::string(value), "${" + std::string(name) + "}");
}

std::string redact_env_values(std::string text) {
  auto& r = recorded_env_values();
  std::lock_guard lock(r.mutex);
  // Longest values first, so a value that contains another is replaced whole.
  std::vector<const std::pair<const std::string, std::string>*> order;
  for (const auto& entry : r.by_value) order.push_back(&entry);
  std::sort(order.begin(), order.end(),
            [](auto* a, auto* b) { return a->first.size() > b->first.size(); });
  for (const auto* entry : order) {
    for (auto at = text.find(entry->first); at != std::string::npos;
         at = text.find(entry->first, at + entry->second.size()))
      text.replace(at, entry->first.size(), entry->second);
  }
  return text;
}

std::string config_issue::to_string() const {
  return redact_env_values(where.to_string() + (level == severity::warning ? ": warning: " : ": ") +
                           message);
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
