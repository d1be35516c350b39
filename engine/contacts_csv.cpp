#include "engine/contacts_csv.hpp"

#include <date/tz.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>

#include "engine/phone.hpp"

namespace pigeon::engine {
namespace {

// Splits one CSV record starting at the current position; handles quotes, doubled quotes and
// newlines inside quotes. Returns false at end of input. `lines` counts physical lines consumed.
bool read_record(std::istream& in, std::vector<std::string>& fields, std::size_t& lines,
                 std::string& error) {
  fields.clear();
  error.clear();
  std::string field;
  bool in_quotes = false, any = false, quoted_field = false;
  int c;
  while ((c = in.get()) != EOF) {
    any = true;
    char ch = static_cast<char>(c);
    if (in_quotes) {
      if (ch == '"') {
        if (in.peek() == '"') {
          in.get();
          field.push_back('"');
        } else {
          in_quotes = false;
        }
      } else {
        if (ch == '\n') ++lines;
        field.push_back(ch);
      }
      continue;
    }
    if (ch == '"') {
      if (!field.empty() || quoted_field) {
        error = "a quote inside an unquoted field (quote the whole field and double inner quotes)";
        field.push_back(ch);
        continue;
      }
      in_quotes = quoted_field = true;
    } else if (ch == ',') {
      fields.push_back(std::move(field));
      field.clear();
      quoted_field = false;
    } else if (ch == '\r' && in.peek() == '\n') {
      continue;
    } else if (ch == '\n') {
      ++lines;
      fields.push_back(std::move(field));
      return true;
    } else {
      field.push_back(ch);
    }
  }
  if (!any) return false;
  if (in_quotes) error = "unterminated quoted field";
  ++lines;
  fields.push_back(std::move(field));
  return true;
}

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Typed attribute value: integer, decimal, boolean, else the text itself.
boost::json::value typed_value(const std::string& v) {
  std::int64_t i;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), i);
  if (ec == std::errc() && p == v.data() + v.size()) return i;
  double d;
  auto [p2, ec2] = std::from_chars(v.data(), v.data() + v.size(), d);
  if (ec2 == std::errc() && p2 == v.data() + v.size()) return d;
  if (v == "true") return true;
  if (v == "false") return false;
  return boost::json::string(v);
}

bool valid_zone(const std::string& tz) {
  try {
    date::locate_zone(tz);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

csv_import read_contacts_csv(std::istream& in, const std::string& default_region,
                             const std::function<void(std::size_t)>& on_row) {
  csv_import out;
  std::vector<std::string> header, fields;
  std::size_t lines = 0;
  std::string error;
  if (!read_record(in, header, lines, error) || (header.size() == 1 && trim(header[0]).empty())) {
    out.fatal = "empty file: expected a header row with a `phone` column";
    return out;
  }
  if (!header.empty() && header[0].rfind("\xEF\xBB\xBF", 0) == 0) header[0].erase(0, 3);  // BOM
  for (auto& h : header) h = trim(h);
  std::optional<std::size_t> phone_col, tags_col, tz_col;
  std::map<std::string, std::size_t> seen;
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (header[i].empty()) {
      out.fatal = "line 1: column " + std::to_string(i + 1) + " has an empty name";
      return out;
    }
    if (!seen.emplace(header[i], i).second) {
      out.fatal = "line 1: column `" + header[i] + "` appears twice";
      return out;
    }
    if (header[i] == "phone") phone_col = i;
    if (header[i] == "tags") tags_col = i;
    if (header[i] == "tz") tz_col = i;
  }
  if (!phone_col) {
    out.fatal = "line 1: no `phone` column in the header";
    return out;
  }

  while (true) {
    std::size_t first_line = lines + 1;
    if (!read_record(in, fields, lines, error)) break;
    if (fields.size() == 1 && trim(fields[0]).empty()) continue;  // blank line
    ++out.rows;
    if (on_row) on_row(out.rows);
    auto reject = [&](std::string reason) {
      out.rejected.push_back({first_line, std::move(reason)});
    };
    if (!error.empty()) {
      reject(error);
      continue;
    }
    if (fields.size() != header.size()) {
      reject("expected " + std::to_string(header.size()) + " fields, found " +
             std::to_string(fields.size()));
      continue;
    }
    contact c;
    auto phone = normalize_phone(trim(fields[*phone_col]), default_region);
    if (phone.e164.empty()) {
      reject("phone `" + trim(fields[*phone_col]) + "`: " + phone.error);
      continue;
    }
    c.phone = std::move(phone.e164);
    std::string bad;
    for (std::size_t i = 0; i < header.size() && bad.empty(); ++i) {
      if (i == *phone_col) continue;
      std::string v = trim(fields[i]);
      if (tags_col && i == *tags_col) {
        std::size_t start = 0;
        while (start <= v.size()) {
          auto end = v.find(';', start);
          if (end == std::string::npos) end = v.size();
          auto tag = trim(std::string_view(v).substr(start, end - start));
          if (!tag.empty() && std::find(c.tags.begin(), c.tags.end(), tag) == c.tags.end())
            c.tags.push_back(tag);
          start = end + 1;
        }
      } else if (tz_col && i == *tz_col) {
        if (!v.empty() && !valid_zone(v)) bad = "tz `" + v + "` is not an IANA time zone";
        c.tz = v;
      } else if (v.empty()) {
        continue;  // absent attribute
      } else if (ends_with(header[i], "_at")) {
        auto t = parse_iso(v);
        if (!t)
          bad = header[i] + " `" + v + "` is not an ISO date or time";
        else
          c.attributes[header[i]] = format_iso(*t);
      } else {
        c.attributes[header[i]] = typed_value(v);
      }
    }
    if (!bad.empty()) {
      reject(bad);
      continue;
    }
    out.contacts.push_back(std::move(c));
  }
  return out;
}

}  // namespace pigeon::engine
