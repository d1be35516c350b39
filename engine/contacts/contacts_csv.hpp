#pragma once

#include <cstddef>
#include <functional>
#include <istream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/model/model.hpp"

namespace pigeon::engine::contacts {

// Reads the contacts CSV of DESIGN.md: a header row; `phone` required (any format
// libphonenumber parses, stored as E.164); `tags` split on ';'; `tz` an IANA zone; every other
// column an attribute, typed (integer, decimal, true/false, else text; `nan`, `inf` and
// `Infinity` are text, a number too large for JSON is an error). Columns ending in `_at` must
// hold ISO dates or times. RFC 4180 quoting, CRLF or LF line ends. The text must be UTF-8
// (to_utf8 converts other encodings first).
//
// A text attribute that would read as something else (a number, true/false, empty, spaces
// around it, a leading apostrophe: csv_text_needs_mark) is written with an apostrophe in front,
// the spreadsheet convention for "this is text": `'00123` reads as the text "00123". An
// apostrophe in front of any other text is kept (`'tis` reads as "'tis").
//
// Bad rows are reported with their line number (of the row's first line) and skipped; good
// rows are never lost. A row with invalid UTF-8 is rejected with the byte offset. A quoted field
// that runs over several lines and then breaks the row (no closing quote, text after it, a wrong
// field count, or a swallowed line that reads as a contact row of its own) rejects only the line
// the quote opened on: the lines after it are read as rows of their own. A missing or unusable
// header is an error for the whole file.

struct rejected_row {
  std::size_t line = 0;
  std::string reason;
  std::optional<std::size_t> byte;  // offset in the file (from 0) of invalid UTF-8, if that
};

struct csv_import {
  std::vector<contact> contacts;  // ids unset
  std::vector<rejected_row> rejected;
  std::string fatal;     // non-empty when the file as a whole could not be read
  std::size_t rows = 0;  // data rows seen
};

// `on_row` (optional) is called after each data row with the count so far, for progress.
csv_import read_contacts_csv(std::string_view text, const std::string& default_region,
                             const std::function<void(std::size_t)>& on_row = {});
csv_import read_contacts_csv(std::istream& in, const std::string& default_region,
                             const std::function<void(std::size_t)>& on_row = {});

// True when `text`, written as it is, would not read back as that text (see above).
bool csv_text_needs_mark(std::string_view text);

// --- writing (contacts_csv_write.cpp): `pigeon contacts export` -------------------------------
// The header of an export: phone, tags, tz, then `attributes` (as summarize_contacts gives them).
// Every field is written as read_contacts_csv reads it back: the export of a database imported
// from an export is the same file.
std::string contacts_csv_header(const std::vector<std::string>& attributes);
// Appends `c`'s row (with its line end) for that header: E.164 phone, tags joined by ';', tz,
// attributes typed (numbers as numbers, a decimal always with a point or exponent, text marked
// when it needs it, *_at as stored).
void append_contact_csv_row(std::string& out, const contact& c,
                            const std::vector<std::string>& attributes);
// One attribute value as an export writes it, before CSV quoting: a marked text, a number, a
// boolean; "" for null.
std::string csv_value_text(const boost::json::value& v);
// Why `c` would not come back unchanged from its exported row, or "" when it would: a tag with
// ';', spaces around it or twice; an attribute named phone, tags or tz, or with spaces around
// its name; an `_at` attribute that is not ISO text as pigeon stores it; an integer beyond
// 64 bits. (The contacts API accepts such values; the CSV cannot carry them.)
std::string contact_csv_problem(const contact& c);

// Converts `bytes` in `encoding` (an iconv name: GB18030, GBK, BIG5, SHIFT_JIS, ISO-8859-1,
// UTF-16, ...) to UTF-8. On an unknown encoding or bytes that are invalid in it, returns nullopt
// and sets `error` (naming the line and byte offset).
std::optional<std::string> to_utf8(std::string_view bytes, const std::string& encoding,
                                   std::string& error);

}  // namespace pigeon::engine::contacts
