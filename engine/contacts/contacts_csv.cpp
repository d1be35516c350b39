#include "engine/contacts/contacts_csv.hpp"

#include <date/tz.h>
#include <iconv.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <iterator>
#include <map>

#include "engine/model/phone.hpp"
#include "templates/utf8.hpp"

namespace pigeon::engine::contacts {
namespace {

// One CSV record of the text: its fields, its byte span and physical lines.
struct csv_record {
  std::vector<std::string> fields;
  std::size_t begin = 0, end = 0;             // [begin, end) in the text, line end included
  std::size_t first_line = 0, last_line = 0;  // 1-based
  std::size_t second_line = 0;  // offset where its second physical line starts, when it has one
  std::string error;
};

// Reads the record at `pos` (advanced past it); handles quotes, doubled quotes and newlines inside
// quotes. Returns false at the end of the text. `line` is the line `pos` is on.
bool read_record(std::string_view text, std::size_t& pos, std::size_t& line, csv_record& rec) {
  rec.fields.clear();
  rec.error.clear();
  rec.begin = pos;
  rec.first_line = line;
  rec.second_line = 0;
  if (pos >= text.size()) return false;
  std::string field;
  bool in_quotes = false, quoted_field = false, closed = false;
  auto set_error = [&](const char* e) {
    if (rec.error.empty()) rec.error = e;
  };
  auto newline = [&] {
    ++line;
    if (!rec.second_line) rec.second_line = pos;
  };
  while (pos < text.size()) {
    char ch = text[pos++];
    if (in_quotes) {
      if (ch == '"') {
        if (pos < text.size() && text[pos] == '"') {
          ++pos;
          field.push_back('"');
        } else {
          in_quotes = false;
          closed = true;
        }
      } else {
        field.push_back(ch);
        if (ch == '\n') newline();
      }
      continue;
    }
    if (ch == ',') {
      rec.fields.push_back(std::move(field));
      field.clear();
      quoted_field = closed = false;
    } else if (ch == '\r' && pos < text.size() && text[pos] == '\n') {
      continue;
    } else if (ch == '\n') {
      newline();
      break;
    } else if (ch == '"' && field.empty() && !quoted_field) {
      in_quotes = quoted_field = true;
    } else if (ch == '"') {
      set_error("a quote inside an unquoted field (quote the whole field and double inner quotes)");
      field.push_back(ch);
    } else {
      if (closed && ch != ' ' && ch != '\t')
        set_error("text after the closing quote of a field (double a quote inside a field)");
      field.push_back(ch);
    }
  }
  if (in_quotes) set_error("a quoted field is never closed");
  rec.fields.push_back(std::move(field));
  rec.end = pos;
  rec.last_line = (pos > 0 && text[pos - 1] == '\n') ? line - 1 : line;
  if (rec.second_line && rec.second_line >= pos) rec.second_line = 0;  // only its line end
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

// -?(D+(.D*)?|.D+)([eE][+-]?D+)?: a number as people write one. Not nan, inf, Infinity, hex.
bool looks_numeric(std::string_view v) {
  std::size_t i = 0, digits = 0;
  auto run = [&] {
    std::size_t n = 0;
    while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i, ++n;
    return n;
  };
  if (i < v.size() && v[i] == '-') ++i;
  digits += run();
  if (i < v.size() && v[i] == '.') {
    ++i;
    digits += run();
  }
  if (digits == 0) return false;
  if (i < v.size() && (v[i] == 'e' || v[i] == 'E')) {
    ++i;
    if (i < v.size() && (v[i] == '+' || v[i] == '-')) ++i;
    if (run() == 0) return false;
  }
  return i == v.size();
}

// Typed attribute value: integer, decimal, boolean, else the text itself. Sets `error` for a
// number JSON cannot hold (its magnitude over ~1.8e308).
boost::json::value typed_value(const std::string& v, std::string& error) {
  if (looks_numeric(v)) {
    std::int64_t i;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), i);
    if (ec == std::errc() && p == v.data() + v.size()) return i;
    double d = std::strtod(v.c_str(), nullptr);  // integers past int64 too; underflow gives ~0
    if (std::isfinite(d)) return d;
    error = "is too large for a number (JSON holds up to about 1.8e308)";
    return nullptr;
  }
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

std::size_t line_of(std::string_view text, std::size_t offset) {
  return 1 + static_cast<std::size_t>(std::count(text.begin(), text.begin() + offset, '\n'));
}

const char* const save_as_utf8 =
    "save the file as UTF-8 (Excel: \"CSV UTF-8\") or import it with --encoding, e.g. "
    "--encoding GB18030";

// The first physical line after the first of a multi-line record that reads as a contact row of
// its own (enough commas and a phone number first), or 0: a sign the quote was never closed.
std::size_t swallowed_row(std::string_view text, const csv_record& rec, std::size_t columns,
                          const std::string& region) {
  std::size_t line = rec.first_line + 1;
  for (std::size_t at = rec.second_line; at < rec.end; ++line) {
    auto nl = text.find('\n', at);
    auto end = std::min(nl == std::string_view::npos ? text.size() : nl + 1, rec.end);
    auto body = text.substr(at, end - at);
    at = end;
    if (static_cast<std::size_t>(std::count(body.begin(), body.end(), ',')) + 1 < columns) continue;
    auto first = trim(body.substr(0, body.find(',')));
    if (!first.empty() && first[0] != '"' && !normalize_phone(first, region).e164.empty())
      return line;
  }
  return 0;
}

}  // namespace

bool csv_text_needs_mark(std::string_view text) {
  return text.empty() || text.front() == ' ' || text.front() == '\t' || text.back() == ' ' ||
         text.back() == '\t' || text.front() == '\'' || looks_numeric(text) || text == "true" ||
         text == "false";
}

csv_import read_contacts_csv(std::string_view text, const std::string& default_region,
                             const std::function<void(std::size_t)>& on_row) {
  csv_import out;
  std::size_t pos = 0, line = 1;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") pos = 3;  // BOM
  csv_record rec;
  if (!read_record(text, pos, line, rec) ||
      (rec.fields.size() == 1 && trim(rec.fields[0]).empty())) {
    out.fatal = "empty file: expected a header row with a `phone` column";
    return out;
  }
  if (auto bad = templates::first_invalid_utf8(text.substr(0, rec.end))) {
    out.fatal = "line " + std::to_string(line_of(text, *bad)) + ": invalid UTF-8 at byte offset " +
                std::to_string(*bad) + "; " + save_as_utf8;
    return out;
  }
  std::vector<std::string> header = std::move(rec.fields);
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

  while (read_record(text, pos, line, rec)) {
    if (rec.fields.size() == 1 && trim(rec.fields[0]).empty()) continue;  // blank line
    ++out.rows;
    if (on_row) on_row(out.rows);
    auto reject = [&](std::string reason, std::optional<std::size_t> byte = std::nullopt) {
      out.rejected.push_back({rec.first_line, std::move(reason), byte});
    };
    if (rec.second_line) {  // a quoted field ran over lines: did it swallow rows?
      std::string why = rec.error;
      if (why.empty() && rec.fields.size() != header.size())
        why = "expected " + std::to_string(header.size()) + " fields, found " +
              std::to_string(rec.fields.size());
      std::size_t swallowed = 0;
      if (why.empty() && (swallowed = swallowed_row(text, rec, header.size(), default_region)))
        why = "a quoted field opened here runs over line " + std::to_string(swallowed) +
              ", which reads as a contact row of its own";
      if (!why.empty()) {
        reject(why + " (the quote opened on line " + std::to_string(rec.first_line) +
               " is not closed until line " + std::to_string(rec.last_line) +
               "; only this line is rejected, the lines after it are read as rows of their own)");
        pos = rec.second_line;
        line = rec.first_line + 1;
        continue;
      }
    }
    if (auto bad = templates::first_invalid_utf8(text.substr(rec.begin, rec.end - rec.begin))) {
      auto offset = rec.begin + *bad;
      auto at_line = rec.first_line + line_of(text.substr(rec.begin), *bad) - 1;
      reject("invalid UTF-8 at byte offset " + std::to_string(offset) + " (line " +
                 std::to_string(at_line) + "); " + save_as_utf8,
             offset);
      continue;
    }
    if (!rec.error.empty()) {
      reject(rec.error);
      continue;
    }
    const auto& fields = rec.fields;
    if (fields.size() != header.size()) {
      reject("expected " + std::to_string(header.size()) + " fields, found " +
             std::to_string(fields.size()));
      continue;
    }
    contact c;
    if (tz_col) {
      c.tz = trim(fields[*tz_col]);
      if (!c.tz.empty() && !valid_zone(c.tz)) {
        reject("tz `" + c.tz + "` is not an IANA time zone");
        continue;
      }
    }
    auto phone = normalize_recipient(trim(fields[*phone_col]), default_region, c.tz);
    if (phone.e164.empty()) {
      reject("phone `" + trim(fields[*phone_col]) + "`: " + phone.error);
      continue;
    }
    c.phone = std::move(phone.e164);
    std::string bad;
    for (std::size_t i = 0; i < header.size() && bad.empty(); ++i) {
      if (i == *phone_col || (tz_col && i == *tz_col)) continue;
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
      } else if (v.empty()) {
        continue;  // absent attribute
      } else if (ends_with(header[i], "_at")) {
        auto t = parse_iso(v);
        if (!t)
          bad = header[i] + " `" + v + "` is not an ISO date or time";
        else
          c.attributes[header[i]] = format_iso(*t);
      } else {
        std::string error;
        // The apostrophe mark (csv_text_needs_mark): on the field as written, so the spaces a
        // marked text keeps are not trimmed away.
        std::string_view marked = fields[i].starts_with('\'') ? std::string_view(fields[i]) : v;
        auto value = marked.starts_with('\'') && csv_text_needs_mark(marked.substr(1))
                         ? boost::json::value(boost::json::string(marked.substr(1)))
                         : typed_value(v, error);
        if (!error.empty())
          bad = header[i] + " `" + v + "` " + error;
        else
          c.attributes[header[i]] = std::move(value);
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

csv_import read_contacts_csv(std::istream& in, const std::string& default_region,
                             const std::function<void(std::size_t)>& on_row) {
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  return read_contacts_csv(std::string_view(text), default_region, on_row);
}

std::optional<std::string> to_utf8(std::string_view bytes, const std::string& encoding,
                                   std::string& error) {
  iconv_t cd = iconv_open("UTF-8", encoding.c_str());
  if (cd == reinterpret_cast<iconv_t>(-1)) {
    error = "unknown encoding `" + encoding +
            "` (use an iconv name such as GB18030, GBK, BIG5, SHIFT_JIS, ISO-8859-1, UTF-16; "
            "`iconv --list` shows them all)";
    return std::nullopt;
  }
  std::string out(bytes.size() * 2 + 16, '\0');
  char* in = const_cast<char*>(bytes.data());  // iconv's signature; it does not write there
  std::size_t in_left = bytes.size(), done = 0;
  // Converts the input, then flushes any shift state (in == nullptr), growing `out` as needed.
  for (bool flush = false;;) {
    char* to = out.data() + done;
    std::size_t out_left = out.size() - done;
    auto r = flush ? iconv(cd, nullptr, nullptr, &to, &out_left)
                   : iconv(cd, &in, &in_left, &to, &out_left);
    done = out.size() - out_left;
    if (r == static_cast<std::size_t>(-1) && errno == E2BIG) {
      out.resize(out.size() * 2);
    } else if (r == static_cast<std::size_t>(-1)) {
      auto offset = static_cast<std::size_t>(in - bytes.data());
      error =
          std::string(errno == EILSEQ ? "bytes that are not valid " : "a sequence cut short in ") +
          encoding + " at byte offset " + std::to_string(offset) + " (line " +
          std::to_string(line_of(bytes, offset)) + "): is the file in another encoding?";
      iconv_close(cd);
      return std::nullopt;
    } else if (flush) {
      break;
    } else if (in_left == 0) {
      flush = true;
    }
  }
  iconv_close(cd);
  out.resize(done);
  return out;
}

}  // namespace pigeon::engine::contacts
