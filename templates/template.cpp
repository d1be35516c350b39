#include "templates/template.hpp"

#include <algorithm>

namespace pigeon::templates {

template_error::template_error(std::string message, std::size_t offset, int line, int column)
    : std::runtime_error(std::move(message)), offset_(offset), line_(line), column_(column) {}

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

constexpr std::string_view date_directives = "YymdHIMSpaAbBFRT%";

class parser {
 public:
  parser(std::string_view text, compiled_template::tag& tag) : text_(text), tag_(tag) {}

  [[noreturn]] void fail(std::string message, std::size_t at) const {
    int line = 1;
    int column = 1;
    for (std::size_t i = 0; i < at && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        column = 1;
      } else if ((static_cast<unsigned char>(text_[i]) & 0xC0) != 0x80) {
        ++column;
      }
    }
    throw template_error(std::move(message), at, line, column);
  }

  // The character at `at` for a message: one whole UTF-8 character, quoted.
  std::string quoted_char(std::size_t at) const {
    std::size_t end = at + 1;
    while (end < text_.size() && (static_cast<unsigned char>(text_[end]) & 0xC0) == 0x80) ++end;
    return "'" + std::string(text_.substr(at, end - at)) + "'";
  }

  void skip_space() {
    while (pos_ < text_.size() && is_space(text_[pos_])) ++pos_;
  }
  bool at(std::string_view s) const { return text_.substr(pos_, s.size()) == s; }

  // Parses the tag whose "{{" is at `open`; returns the variable name. pos_ ends after "}}".
  std::string parse_tag(std::size_t open) {
    if (text_.find("}}", open + 2) == std::string_view::npos) {
      fail("unclosed '{{': no matching '}}'", open);
    }
    pos_ = open + 2;
    tag_.offset = open;
    skip_space();
    const std::size_t name_begin = pos_;
    while (pos_ < text_.size()) {
      const std::size_t segment = pos_;
      while (pos_ < text_.size() && is_name_char(text_[pos_])) ++pos_;
      if (pos_ == segment) {
        if (segment == name_begin) {
          if (at("}}") || at(":") || at("|")) fail("empty variable name", pos_);
          fail("invalid character " + quoted_char(pos_) +
                   " in variable name (allowed: letters, digits, '_', '-', '.')",
               pos_);
        }
        fail("empty segment in dotted variable name", pos_);
      }
      if (!at(".")) break;
      ++pos_;
    }
    std::string name(text_.substr(name_begin, pos_ - name_begin));
    skip_space();
    while (at(":")) {
      ++pos_;
      skip_space();
      parse_filter();
      skip_space();
    }
    if (at("|")) {
      const std::size_t close = text_.find("}}", pos_);
      std::string_view fallback = text_.substr(pos_ + 1, close - pos_ - 1);
      while (!fallback.empty() && is_space(fallback.front())) fallback.remove_prefix(1);
      while (!fallback.empty() && is_space(fallback.back())) fallback.remove_suffix(1);
      tag_.fallback = std::string(fallback);
      pos_ = close + 2;
    } else if (at("}}")) {
      pos_ += 2;
    } else if (pos_ < text_.size() && is_name_char(text_[pos_])) {
      fail("invalid space in variable name '" + name + "'", pos_);
    } else {
      fail("unexpected " + quoted_char(pos_) + " in tag: expected ':filter', '|default' or '}}'",
           pos_);
    }
    return name;
  }

  std::size_t pos() const { return pos_; }

 private:
  void parse_filter() {
    const std::size_t name_begin = pos_;
    while (pos_ < text_.size() && text_[pos_] >= 'a' && text_[pos_] <= 'z') ++pos_;
    const std::string_view name = text_.substr(name_begin, pos_ - name_begin);
    if (name.empty()) {
      fail("expected a filter name after ':' (upper, lower, number, date)", name_begin);
    }
    compiled_template::filter f{};
    if (name == "upper") {
      f.kind = compiled_template::filter_kind::upper;
    } else if (name == "lower") {
      f.kind = compiled_template::filter_kind::lower;
    } else if (name == "number") {
      f.kind = compiled_template::filter_kind::number;
    } else if (name == "date") {
      f.kind = compiled_template::filter_kind::date;
      f.pattern = "%Y-%m-%d";
    } else {
      fail("unknown filter '" + std::string(name) + "' (known: upper, lower, number, date)",
           name_begin);
    }
    skip_space();
    if (at("(")) {
      const std::size_t arg_begin = pos_ + 1;
      const std::size_t close = text_.find(')', arg_begin);
      if (close == std::string_view::npos || close > text_.find("}}", arg_begin)) {
        fail("unclosed '(' in filter '" + std::string(name) + "'", pos_);
      }
      parse_argument(f, name, text_.substr(arg_begin, close - arg_begin), arg_begin);
      pos_ = close + 1;
    }
    tag_.filters.push_back(std::move(f));
  }

  void parse_argument(compiled_template::filter& f, std::string_view name, std::string_view arg,
                      std::size_t arg_begin) {
    switch (f.kind) {
      case compiled_template::filter_kind::upper:
      case compiled_template::filter_kind::lower:
        fail("filter '" + std::string(name) + "' takes no argument", arg_begin - 1);
      case compiled_template::filter_kind::number: {
        std::size_t i = 0;
        while (i < arg.size() && is_space(arg[i])) ++i;
        const std::size_t digit = i;
        if (i < arg.size() && arg[i] >= '0' && arg[i] <= '9') f.decimals = arg[i++] - '0';
        while (i < arg.size() && is_space(arg[i])) ++i;
        if (i == digit || i != arg.size()) {
          fail("number() takes the count of decimals, 0 to 9", arg_begin + digit);
        }
        return;
      }
      case compiled_template::filter_kind::date:
        if (arg.empty()) fail("date() needs a pattern, e.g. date(%Y-%m-%d)", arg_begin);
        for (std::size_t i = 0; i < arg.size(); ++i) {
          if (arg[i] != '%') continue;
          std::size_t d = i + 1;
          if (d < arg.size() && arg[d] == '-') ++d;
          if (d >= arg.size() || date_directives.find(arg[d]) == std::string_view::npos ||
              (arg[d] == '%' && d != i + 1)) {
            fail("unknown date directive in '" + std::string(arg) +
                     "' (known: %Y %y %m %d %H %I"
                     " %M %S %p %a %A %b %B %F %R %T %%, and %-m style without padding)",
                 arg_begin + i);
          }
          i = d;
        }
        f.pattern = std::string(arg);
        return;
    }
  }

  std::string_view text_;
  compiled_template::tag& tag_;
  std::size_t pos_ = 0;
};

}  // namespace

compiled_template compiled_template::compile(std::string_view text) {
  compiled_template t;
  std::size_t pos = 0;
  std::uint32_t literal_begin = 0;
  auto literal_end = [&] { return static_cast<std::uint32_t>(t.literals_.size()); };
  while (pos < text.size()) {
    const char c = text[pos];
    if (c == '\\') {
      // A run of n backslashes just before "{{": each pair renders one backslash; an odd one
      // out escapes the braces. Backslashes anywhere else are ordinary text.
      std::size_t n = 1;
      while (pos + n < text.size() && text[pos + n] == '\\') ++n;
      if (text.substr(pos + n, 2) != "{{") {
        t.literals_.append(n, '\\');
        pos += n;
        continue;
      }
      t.literals_.append(n / 2, '\\');
      pos += n;
      if (n % 2 == 1) {
        t.literals_.append("{{");
        pos += 2;
      }
      continue;
    }
    if (c == '{' && text.substr(pos, 2) == "{{") {
      tag tg{};
      parser p(text, tg);
      const std::string name = p.parse_tag(pos);
      pos = p.pos();
      const auto found = std::find(t.names_.begin(), t.names_.end(), name);
      tg.name_index = static_cast<std::size_t>(found - t.names_.begin());
      if (found == t.names_.end()) t.names_.push_back(name);
      if (tg.fallback) t.defaults_.emplace(name, *tg.fallback);
      t.parts_.push_back({literal_begin, literal_end(), static_cast<std::int32_t>(t.tags_.size())});
      t.tags_.push_back(std::move(tg));
      literal_begin = literal_end();
      continue;
    }
    t.literals_.push_back(c);
    ++pos;
  }
  if (literal_end() != literal_begin || t.parts_.empty()) {
    t.parts_.push_back({literal_begin, literal_end(), -1});
  }
  return t;
}

std::vector<std::string> compiled_template::render(const variables& vars, std::string& out) const {
  std::vector<std::string> missing;
  for (const part& p : parts_) {
    out.append(literals_, p.literal_begin, p.literal_end - p.literal_begin);
    if (p.tag_index < 0) continue;
    const tag& tg = tags_[static_cast<std::size_t>(p.tag_index)];
    const std::string& name = names_[tg.name_index];
    const std::optional<std::string_view> value = vars.find(name);
    bool ok = value.has_value() && !value->empty();
    if (ok && tg.filters.empty()) {
      out.append(*value);
    } else if (ok && tg.filters.size() == 1) {
      ok = apply_filter(tg.filters.front(), *value, out);
    } else if (ok) {
      std::string current(*value);
      std::string next;
      for (const filter& f : tg.filters) {
        next.clear();
        if (!(ok = apply_filter(f, current, next))) break;
        current.swap(next);
      }
      if (ok) out.append(current);
    }
    if (ok) continue;
    if (tg.fallback) {
      out.append(*tg.fallback);
    } else if (std::find(missing.begin(), missing.end(), name) == missing.end()) {
      missing.push_back(name);
    }
  }
  return missing;
}

}  // namespace pigeon::templates
