#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/source_location.hpp"

// Internal to the config target: a thin layer over yaml-cpp that reads typed values and
// records every problem with its file:line:col instead of stopping at the first. Not thread
// safe; one reader per file being loaded.
namespace pigeon::config::detail {

// "providers.main" + "rate" -> "providers.main.rate"; an empty parent is the top level.
std::string join_path(std::string_view parent, std::string_view key);

// "a map", "a list", "nothing", or the scalar's text quoted, for "expected X, got Y".
std::string describe(const YAML::Node& node);

// The largest configuration file read (campaign or engine config), in bytes.
inline constexpr std::uintmax_t max_config_bytes = 4 * 1024 * 1024;

// Reads a whole file; throws config_error naming the path when it cannot or when it is larger
// than max_config_bytes.
std::string read_file(const std::string& path);

class yaml_reader {
 public:
  explicit yaml_reader(std::string file) : file_(std::move(file)) {}

  const std::string& file() const { return file_; }

  // 1-based location of the node (yaml-cpp marks are 0-based). Columns count characters, not
  // bytes, as editors do.
  source_location location(const YAML::Node& node) const;

  void issue(const source_location& where, std::string message);
  void issue(const YAML::Node& node, std::string message) { issue(location(node), message); }
  const std::vector<config_issue>& issues() const { return issues_; }

  // Throws config_error with every issue recorded, if there are any.
  void throw_if_issues() const;

  // Parses YAML text. A syntax error is recorded with its location and yields nullopt. An empty
  // document yields an empty map.
  std::optional<YAML::Node> parse(const std::string& text);

  // Record "path: expected a map, got ..." and return false when the node is of another kind.
  bool expect_map(const YAML::Node& node, std::string_view path);
  bool expect_list(const YAML::Node& node, std::string_view path);

  // Reports keys of `map` that are not in `allowed` (listing the allowed ones), keys that are
  // not text, and keys given twice.
  void check_keys(const YAML::Node& map, std::string_view path,
                  std::initializer_list<std::string_view> allowed);
  void check_duplicate_keys(const YAML::Node& map, std::string_view path);

  // Scalars. `${NAME}` references are substituted from the environment.
  std::optional<std::string> text(const YAML::Node& node, std::string_view path);
  std::optional<long long> integer(const YAML::Node& node, std::string_view path);
  std::optional<std::vector<std::string>> text_list(const YAML::Node& node, std::string_view path);

  // `${NAME}` substitution alone; unset or malformed references are issues at `node`, except
  // that while keep_unset_env(true) an unset variable stays as its `${NAME}` text.
  std::string substitute_env(const std::string& text, const YAML::Node& node);
  // For secrets a command will not use (reading commands and the carriers' credentials).
  void keep_unset_env(bool keep) { keep_unset_env_ = keep; }

  // When `map` has `key`, reads it into `out` and returns true; a present but invalid value is
  // an issue and returns false, leaving `out` as it was.
  bool read(const YAML::Node& map, std::string_view path, const char* key, std::string& out);
  bool read(const YAML::Node& map, std::string_view path, const char* key, int& out);
  bool read(const YAML::Node& map, std::string_view path, const char* key, long& out);
  bool read(const YAML::Node& map, std::string_view path, const char* key,
            std::vector<std::string>& out);

  // Records "path: missing required key 'key'" at the map and returns false when absent.
  bool require(const YAML::Node& map, std::string_view path, const char* key);

 private:
  source_location from_mark(const YAML::Mark& mark) const;

  std::string file_;
  std::vector<std::string> lines_;  // of the text being parsed, to count characters
  std::vector<config_issue> issues_;
  bool keep_unset_env_ = false;
};

}  // namespace pigeon::config::detail
