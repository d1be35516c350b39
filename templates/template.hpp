#pragma once
// pigeon's message template language: {{name}}, {{name|default}}, {{name:filter(arg)}}.
// Grammar and semantics: docs/TEMPLATES.md.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace pigeon::templates {

// Values for {{name}}; dotted names ("contact.city") are passed whole to find().
class variables {
 public:
  virtual ~variables() = default;
  virtual std::optional<std::string_view> find(std::string_view name) const = 0;
};

// A simple map-backed `variables` (tests, previews, CLI).
class map_variables : public variables {
 public:
  map_variables() = default;
  map_variables(std::initializer_list<std::pair<const std::string, std::string>> values)
      : values_(values) {}
  void set(std::string name, std::string value) { values_[std::move(name)] = std::move(value); }
  std::optional<std::string_view> find(std::string_view name) const override {
    auto it = values_.find(name);
    if (it == values_.end()) return std::nullopt;
    return std::string_view(it->second);
  }

 private:
  std::map<std::string, std::string, std::less<>> values_;
};

// A template syntax error; offset (0-based, bytes) and line/column (1-based; the column counts
// Unicode characters, not bytes) are positions within the template text. what() is the bare
// message, without the position.
class template_error : public std::runtime_error {
 public:
  template_error(std::string message, std::size_t offset, int line, int column);
  std::size_t offset() const { return offset_; }
  int line() const { return line_; }
  int column() const { return column_; }

 private:
  std::size_t offset_;
  int line_;
  int column_;
};

class compiled_template {
 public:
  enum class filter_kind : std::uint8_t { upper, lower, number, date };
  struct filter {
    filter_kind kind;
    int decimals = 0;     // number
    std::string pattern;  // date
  };
  // One {{...}} tag, as parsed.
  struct tag {
    std::size_t name_index;               // into variable_names()
    std::vector<filter> filters;          // applied left to right
    std::optional<std::string> fallback;  // the default text, inserted as written
    std::size_t offset;                   // byte offset of "{{" in the template text
  };

  compiled_template() = default;
  static compiled_template compile(std::string_view text);  // throws template_error

  // Appends the rendered text to `out`. Returns the names of variables that were missing (or
  // whose value a filter rejected, e.g. number("abc")) and had no default (rendered as empty);
  // an empty result means the render is complete. Each name appears once.
  std::vector<std::string> render(const variables& vars, std::string& out) const;
  // Every variable name referenced, in order of first appearance, without duplicates.
  const std::vector<std::string>& variable_names() const { return names_; }
  // The default text of each variable that has one (name -> default; the first one wins when
  // a variable is used several times with different defaults).
  const std::map<std::string, std::string, std::less<>>& defaults() const { return defaults_; }
  // The tags in order of appearance.
  const std::vector<tag>& tags() const { return tags_; }
  // The literal text between tags (escapes resolved), in bytes.
  std::size_t literal_size() const { return literals_.size(); }

 private:
  struct part {
    std::uint32_t literal_begin;  // into literals_
    std::uint32_t literal_end;
    std::int32_t tag_index;  // -1: literal only
  };
  std::string literals_;
  std::vector<part> parts_;
  std::vector<tag> tags_;
  std::vector<std::string> names_;
  std::map<std::string, std::string, std::less<>> defaults_;
};

// Applies one filter to `value`, appending to `out`; false (out unchanged) when the value does
// not fit the filter (not a number, not an ISO date).
bool apply_filter(const compiled_template::filter& f, std::string_view value, std::string& out);

}  // namespace pigeon::templates
