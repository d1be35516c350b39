// Writing the contacts CSV (`pigeon contacts export`): rows read_contacts_csv reads back
// unchanged.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <string>

#include "engine/contacts/contacts_csv.hpp"

namespace pigeon::engine::contacts {

namespace {

// RFC 4180: quoted when it holds a comma, a quote, a line end or spaces at either end (the
// reader trims unquoted fields), inner quotes doubled.
void append_field(std::string& out, std::string_view field) {
  bool quote = field.find_first_of(",\"\r\n") != std::string_view::npos ||
               (!field.empty() && (field.front() == ' ' || field.front() == '\t' ||
                                   field.back() == ' ' || field.back() == '\t'));
  if (!quote) {
    out.append(field);
    return;
  }
  out.push_back('"');
  for (char ch : field) {
    if (ch == '"') out.push_back('"');
    out.push_back(ch);
  }
  out.push_back('"');
}

// A number or boolean as the reader types it back; nothing for null (an absent value).
void append_number_or_bool(std::string& out, const boost::json::value& v) {
  if (v.is_bool()) {
    out.append(v.get_bool() ? "true" : "false");
    return;
  }
  if (!v.is_number()) return;
  char buf[64];
  std::to_chars_result r{};
  if (v.is_int64()) {
    r = std::to_chars(buf, buf + sizeof buf, v.get_int64());
  } else if (v.is_uint64()) {
    r = std::to_chars(buf, buf + sizeof buf, v.get_uint64());
  } else {
    r = std::to_chars(buf, buf + sizeof buf, v.get_double());  // shortest that reads back
    // A decimal keeps a point or an exponent, else it would read back as an integer.
    if (std::none_of(buf, r.ptr, [](char c) { return c == '.' || c == 'e' || c == 'n'; })) {
      *r.ptr++ = '.';
      *r.ptr++ = '0';
    }
  }
  out.append(buf, r.ptr);
}

void append_value(std::string& out, const boost::json::value& v) {
  if (!v.is_string())
    append_number_or_bool(out, v);
  else if (csv_text_needs_mark(v.get_string()))
    append_field(out, csv_value_text(v));
  else
    append_field(out, v.get_string());  // the common case, without a copy
}

// True when `s` is format_iso's form of a valid time ("2026-11-20T00:00:00.000Z"), which is what
// an import stores for an `_at` cell: the common case, checked without the date library's
// streams (parse_iso and format_iso were half of an export's time).
bool stored_iso_form(std::string_view s) {
  static constexpr std::string_view shape = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (s.size() != shape.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    bool digit = s[i] >= '0' && s[i] <= '9';
    if (shape[i] == 'd' ? !digit : s[i] != shape[i]) return false;
  }
  auto num = [&](std::size_t at, std::size_t n) {
    unsigned v = 0;
    for (std::size_t k = 0; k < n; ++k) v = v * 10 + static_cast<unsigned>(s[at + k] - '0');
    return v;
  };
  std::chrono::year_month_day date{std::chrono::year{static_cast<int>(num(0, 4))},
                                   std::chrono::month{num(5, 2)}, std::chrono::day{num(8, 2)}};
  return date.ok() && num(11, 2) < 24 && num(14, 2) < 60 && num(17, 2) < 60;
}

bool has_outer_space(std::string_view s) {
  return !s.empty() &&
         (s.front() == ' ' || s.front() == '\t' || s.back() == ' ' || s.back() == '\t');
}

}  // namespace

std::string csv_value_text(const boost::json::value& v) {
  std::string out;
  if (!v.is_string()) {
    append_number_or_bool(out, v);
  } else {
    std::string_view text = v.get_string();
    if (csv_text_needs_mark(text)) out.push_back('\'');
    out.append(text);
  }
  return out;
}

std::string contacts_csv_header(const std::vector<std::string>& attributes) {
  std::string out = "phone,tags,tz";
  for (const auto& name : attributes) {
    out.push_back(',');
    append_field(out, name);
  }
  out.push_back('\n');
  return out;
}

void append_contact_csv_row(std::string& out, const contact& c,
                            const std::vector<std::string>& attributes) {
  out.append(c.phone);
  out.push_back(',');
  std::string tags;
  for (std::size_t i = 0; i < c.tags.size(); ++i) {
    if (i) tags.push_back(';');
    tags.append(c.tags[i]);
  }
  append_field(out, tags);
  out.push_back(',');
  out.append(c.tz);
  for (const auto& name : attributes) {
    out.push_back(',');
    if (auto* v = c.attributes.if_contains(name)) append_value(out, *v);
  }
  out.push_back('\n');
}

std::string contact_csv_problem(const contact& c) {
  for (std::size_t i = 0; i < c.tags.size(); ++i) {
    const auto& tag = c.tags[i];
    if (tag.empty() || tag.find(';') != std::string::npos || has_outer_space(tag))
      return "tag `" + tag + "` cannot be written in a `;`-separated tags field";
    if (std::find(c.tags.begin(), c.tags.begin() + static_cast<long>(i), tag) !=
        c.tags.begin() + static_cast<long>(i))
      return "tag `" + tag + "` appears twice (an import keeps it once)";
  }
  for (const auto& [key, value] : c.attributes) {
    std::string_view name = key;
    if (name == "phone" || name == "tags" || name == "tz" || name.empty() || has_outer_space(name))
      return "attribute `" + std::string(name) + "` cannot be a column of its own";
    if (name.ends_with("_at") && !(value.is_string() && stored_iso_form(value.get_string()))) {
      auto t = value.is_string() ? parse_iso(value.get_string()) : std::nullopt;
      if (!t || format_iso(*t) != std::string_view(value.get_string()))
        return "attribute `" + std::string(name) + "` is not an ISO time as an import stores it";
    }
    if (value.is_uint64())
      return "attribute `" + std::string(name) + "` is an integer beyond 64 bits";
  }
  return "";
}

}  // namespace pigeon::engine::contacts
