#include "config/yaml_reader.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "templates/utf8.hpp"

namespace pigeon::config::detail {

namespace {

bool is_name_char(char c, bool first) {
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_') return true;
  return !first && c >= '0' && c <= '9';
}

std::string in_path(std::string_view path) {
  return path.empty() ? std::string("at the top level") : "in " + std::string(path);
}

std::string prefixed(std::string_view path, const std::string& message) {
  return path.empty() ? message : std::string(path) + ": " + message;
}

}  // namespace

std::string join_path(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return std::string(parent) + "." + std::string(key);
}

std::string describe(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "nothing";
  if (node.IsMap()) return "a map";
  if (node.IsSequence()) return "a list";
  return "'" + node.Scalar() + "'";
}

std::string read_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw config_error({{{path, 0, 0}, "cannot read the file: it is a directory"}});
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw config_error(
        {{{path, 0, 0}, std::string("cannot read the file: ") + std::strerror(errno)}});
  }
  // yaml-cpp takes about 36 bytes of memory and 0.2 us per byte of input: a 50 MB file took
  // 10.8 s and 1.8 GB. No campaign or engine config comes near the limit.
  if (auto size = std::filesystem::file_size(path, ec); !ec && size > max_config_bytes) {
    throw config_error(
        {{{path, 0, 0},
          "the file has " + std::to_string(size) +
              " bytes; a configuration file may have at most " + std::to_string(max_config_bytes) +
              " (split a campaign into several files)"}});
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw config_error({{{path, 0, 0}, "cannot read the file: read error"}});
  return text.str();
}

source_location yaml_reader::from_mark(const YAML::Mark& mark) const {
  if (mark.is_null()) return {file_, 0, 0};
  int column = mark.column;
  // yaml-cpp counts bytes; count UTF-8 sequences instead (skip continuation bytes).
  if (mark.line >= 0 && static_cast<std::size_t>(mark.line) < lines_.size()) {
    const std::string& line = lines_[static_cast<std::size_t>(mark.line)];
    const std::size_t end = std::min(line.size(), static_cast<std::size_t>(mark.column));
    column = 0;
    for (std::size_t i = 0; i < end; ++i) column += (line[i] & 0xC0) != 0x80;
  }
  return {file_, mark.line + 1, column + 1};
}

source_location yaml_reader::location(const YAML::Node& node) const {
  if (!node.IsDefined()) return {file_, 0, 0};
  return from_mark(node.Mark());
}

void yaml_reader::issue(const source_location& where, std::string message) {
  issues_.push_back({where, std::move(message)});
}

void yaml_reader::throw_if_issues() const {
  if (issues_.empty()) return;
  // In file order, so a person can work down the list; ties keep the order found.
  std::vector<config_issue> sorted = issues_;
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    return std::pair{a.where.line, a.where.column} < std::pair{b.where.line, b.where.column};
  });
  throw config_error(std::move(sorted));
}

std::optional<YAML::Node> yaml_reader::parse(const std::string& text) {
  lines_.clear();
  if (auto bad = templates::first_invalid_utf8(text)) {
    // yaml-cpp would pass the bytes on; a template or a keyword holding them sends mojibake.
    auto line_start = text.rfind('\n', *bad == 0 ? 0 : *bad - 1);
    line_start = (line_start == std::string::npos || *bad == 0) ? 0 : line_start + 1;
    int column = 1;
    for (auto i = line_start; i < *bad; ++i) column += (text[i] & 0xC0) != 0x80;
    const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<long>(*bad), '\n');
    issue({file_, static_cast<int>(line), column},
          "invalid UTF-8 at byte offset " + std::to_string(*bad) + "; save the file as UTF-8");
    return std::nullopt;
  }
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);) lines_.push_back(line);
  try {
    // One document per file: a second one (after `---`) would otherwise be dropped unread.
    // Found by its marker line (YAML::LoadAll loops without end on some malformed input).
    bool content = false;
    bool second = false;  // a `---` after the first document's content
    for (std::size_t i = 0; i < lines_.size(); ++i) {
      std::string_view line = lines_[i];
      bool marker = line.starts_with("---") &&
                    (line.size() == 3 || line[3] == ' ' || line[3] == '\t' || line[3] == '\r');
      if (marker) {
        second = second || content;
        continue;
      }
      auto first = line.find_first_not_of(" \t\r");
      if (first == std::string_view::npos || line[first] == '#') continue;
      if (second) {
        issue({file_, static_cast<int>(i) + 1, static_cast<int>(first) + 1},
              "a second YAML document (after `---`): a file holds one campaign (or one engine "
              "config); put each in a file of its own");
        return std::nullopt;
      }
      content = true;
    }
    YAML::Node root = YAML::Load(text);
    if (!root.IsDefined() || root.IsNull()) return YAML::Node(YAML::NodeType::Map);
    return root;
  } catch (const YAML::Exception& e) {
    source_location where{file_, 1, 1};
    if (!e.mark.is_null()) where = from_mark(e.mark);
    issue(where, "YAML syntax error: " + e.msg);
    return std::nullopt;
  }
}

bool yaml_reader::expect_map(const YAML::Node& node, std::string_view path) {
  if (node.IsMap()) return true;
  issue(node, prefixed(path, "expected a map, got " + describe(node)));
  return false;
}

bool yaml_reader::expect_list(const YAML::Node& node, std::string_view path) {
  if (node.IsSequence()) return true;
  issue(node, prefixed(path, "expected a list, got " + describe(node)));
  return false;
}

void yaml_reader::check_duplicate_keys(const YAML::Node& map, std::string_view path) {
  std::map<std::string, source_location> seen;
  for (const auto& entry : map) {
    if (!entry.first.IsScalar()) {
      issue(entry.first, prefixed(path, "keys must be text, got " + describe(entry.first)));
      continue;
    }
    auto [it, inserted] = seen.emplace(entry.first.Scalar(), location(entry.first));
    if (!inserted) {
      issue(entry.first, "duplicate key '" + entry.first.Scalar() + "' " + in_path(path) +
                             " (first at " + it->second.to_string() + ")");
    }
  }
}

void yaml_reader::check_keys(const YAML::Node& map, std::string_view path,
                             std::initializer_list<std::string_view> allowed) {
  check_duplicate_keys(map, path);
  for (const auto& entry : map) {
    if (!entry.first.IsScalar()) continue;  // reported above
    const std::string& key = entry.first.Scalar();
    bool known = false;
    for (auto name : allowed) known = known || name == key;
    if (known) continue;
    std::string names;
    for (auto name : allowed) {
      if (!names.empty()) names += ", ";
      names += name;
    }
    issue(entry.first, "unknown key '" + key + "' " + in_path(path) + "; allowed keys: " + names);
  }
}

std::string yaml_reader::substitute_env(const std::string& text, const YAML::Node& node) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] != '$' || i + 1 >= text.size() || text[i + 1] != '{') {
      out += text[i++];
      continue;
    }
    auto close = text.find('}', i + 2);
    if (close == std::string::npos) {
      issue(node, "unterminated ${ in '" + text + "'");
      out.append(text, i, std::string::npos);
      break;
    }
    std::string name = text.substr(i + 2, close - i - 2);
    bool valid = !name.empty();
    for (std::size_t k = 0; k < name.size(); ++k) valid = valid && is_name_char(name[k], k == 0);
    if (!valid) {
      issue(node, "'${" + name + "}' is not a valid environment variable reference");
    } else if (const char* value = std::getenv(name.c_str())) {
      out += value;
      remember_env_value(name, value);
    } else if (keep_unset_env_) {
      out.append(text, i, close + 1 - i);
    } else {
      issue(node, "environment variable " + name + " is not set");
    }
    i = close + 1;
  }
  return out;
}

std::optional<std::string> yaml_reader::text(const YAML::Node& node, std::string_view path) {
  if (!node.IsScalar()) {
    issue(node, prefixed(path, "expected text, got " + describe(node)));
    return std::nullopt;
  }
  std::size_t before = issues_.size();
  std::string value = substitute_env(node.Scalar(), node);
  if (issues_.size() != before) return std::nullopt;
  return value;
}

std::optional<long long> yaml_reader::integer(const YAML::Node& node, std::string_view path) {
  if (!node.IsScalar()) {
    issue(node, prefixed(path, "expected a number, got " + describe(node)));
    return std::nullopt;
  }
  auto value = text(node, path);
  if (!value) return std::nullopt;
  long long number = 0;
  const char* begin = value->data();
  const char* end = begin + value->size();
  auto [stop, ec] = std::from_chars(begin, end, number);
  if (value->empty() || ec != std::errc{} || stop != end) {
    issue(node, prefixed(path, "expected a whole number, got '" + *value + "'"));
    return std::nullopt;
  }
  return number;
}

std::optional<std::vector<std::string>> yaml_reader::text_list(const YAML::Node& node,
                                                               std::string_view path) {
  if (!expect_list(node, path)) return std::nullopt;
  std::vector<std::string> values;
  bool ok = true;
  for (std::size_t i = 0; i < node.size(); ++i) {
    auto value = text(node[i], std::string(path) + "[" + std::to_string(i) + "]");
    if (value) values.push_back(std::move(*value));
    ok = ok && value.has_value();
  }
  if (!ok) return std::nullopt;
  return values;
}

bool yaml_reader::read(const YAML::Node& map, std::string_view path, const char* key,
                       std::string& out) {
  const YAML::Node node = map[key];
  if (!node.IsDefined()) return false;
  auto value = text(node, join_path(path, key));
  if (value) out = std::move(*value);
  return value.has_value();
}

bool yaml_reader::read(const YAML::Node& map, std::string_view path, const char* key, int& out) {
  long long wide = 0;
  const YAML::Node node = map[key];
  if (!node.IsDefined()) return false;
  auto value = integer(node, join_path(path, key));
  if (!value) return false;
  wide = *value;
  if (wide < INT_MIN || wide > INT_MAX) {
    issue(node, join_path(path, key) + ": " + std::to_string(wide) + " is out of range");
    return false;
  }
  out = static_cast<int>(wide);
  return true;
}

bool yaml_reader::read(const YAML::Node& map, std::string_view path, const char* key, long& out) {
  const YAML::Node node = map[key];
  if (!node.IsDefined()) return false;
  auto value = integer(node, join_path(path, key));
  if (value) out = static_cast<long>(*value);
  return value.has_value();
}

bool yaml_reader::read(const YAML::Node& map, std::string_view path, const char* key,
                       std::vector<std::string>& out) {
  const YAML::Node node = map[key];
  if (!node.IsDefined()) return false;
  auto value = text_list(node, join_path(path, key));
  if (value) out = std::move(*value);
  return value.has_value();
}

bool yaml_reader::require(const YAML::Node& map, std::string_view path, const char* key) {
  if (map[key].IsDefined()) return true;
  issue(map, "missing required key '" + std::string(key) + "' " + in_path(path));
  return false;
}

}  // namespace pigeon::config::detail
