#pragma once

#include <cstddef>
#include <functional>
#include <istream>
#include <string>
#include <vector>

#include "engine/model.hpp"

namespace pigeon::engine {

// Reads the contacts CSV of DESIGN.md: a header row; `phone` required (any format
// libphonenumber parses, stored as E.164); `tags` split on ';'; `tz` an IANA zone; every other
// column an attribute, typed (integer, decimal, true/false, else text). Columns ending in `_at`
// must hold ISO dates or times. RFC 4180 quoting, CRLF or LF line ends.
//
// Bad rows are reported with their line number (of the row's first line) and skipped; good
// rows are never lost. A missing or unusable header is an error for the whole file.

struct rejected_row {
  std::size_t line = 0;
  std::string reason;
};

struct csv_import {
  std::vector<contact> contacts;  // ids unset
  std::vector<rejected_row> rejected;
  std::string fatal;     // non-empty when the file as a whole could not be read
  std::size_t rows = 0;  // data rows seen
};

// `on_row` (optional) is called after each data row with the count so far, for progress.
csv_import read_contacts_csv(std::istream& in, const std::string& default_region,
                             const std::function<void(std::size_t)>& on_row = {});

}  // namespace pigeon::engine
