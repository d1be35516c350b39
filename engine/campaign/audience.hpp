#pragma once
// Audience expressions: one `where` entry of a campaign (entries are AND-ed by the caller) or
// one tier of the engine config's `policy.tiers`, compiled once and evaluated per contact.
//
// Grammar (keywords are lowercase and reserved; whitespace is free):
//   expr      := and_expr ('or' and_expr)*
//   and_expr  := unary ('and' unary)*
//   unary     := 'not' unary | '(' expr ')' | predicate
//   predicate := name op value | name 'in' list | name 'not' 'in' list | name 'exists'
//   op        := '=' | '!=' | '<' | '<=' | '>' | '>='
//   list      := '[' [value (',' value)*] ']'
//   value     := integer | decimal (optionally negative) | date YYYY-MM-DD | true | false
//              | 'quoted' | "quoted" (no escapes) | bare word (letters, digits, UTF-8,
//                and _ . - + / @, e.g. shanghai, coffee-lover, Asia/Shanghai)
//   name      := [A-Za-z_][A-Za-z0-9_.]*
// "Missing" is written `not name exists` (there is no `missing` keyword).
//
// Names: an attribute of the contact; `phone`, `tz` (the contact's fields; an empty tz is
// missing); `tags` (`in`/`=` true when any tag matches; `exists` when there is a tag);
// `<x>_days`: whole days (floor) from the attribute `<x>_at` (ISO text) to `now`, falling back
// to an attribute literally named `<x>_days` when there is no `<x>_at` (`<x>_months` and
// `<x>_years`: whole months and years between the UTC days, see engine/campaign/calendar.hpp);
// `tier` with
// `=`, `!=`, `in`, `not in` and tier names from the map given to compile (evaluates that tier's
// expression).
//
// Semantics (two-valued logic): numbers compare numerically (int vs double fine); strings
// compare byte-wise, case-sensitively; a date compares with the UTC calendar day of an ISO text
// attribute (`x_at = 2026-11-11` is true for any time that day). A missing attribute, or one of
// another type than the value (a string attribute vs a number, unparsable ISO text vs a date),
// makes `=`, `<`, `<=`, `>`, `>=` and `in` false; `!=` and `not in` are always their exact
// negations, so they are true then. `tags != vip`: no tag is `vip`.
//
// Static checks (compile errors): `<`/`<=`/`>`/`>=` need a number, a date or a quoted string
// (not a bare word or a boolean); `<x>_days` takes only numbers; `<x>_at` only dates; `tags`
// and `tier` take no ordering operator; unknown tier names; unknown operators; unterminated
// quotes, lists and parentheses; missing values; trailing garbage.
//
// Threading: a compiled expression is immutable; const methods are thread-safe and copies are
// cheap (shared). matches() does not allocate for the stored ISO form of `_at` attributes.
// Failure: compile throws audience_expr_error with a 1-based column (in code points) within the
// expression text; matches() never throws for any contact.
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "engine/model/model.hpp"

namespace pigeon::engine::campaign {

class audience_expr_error : public std::runtime_error {
 public:
  audience_expr_error(const std::string& message, int column, std::size_t offset)
      : std::runtime_error(message), column_(column), offset_(offset) {}
  // 1-based, counted in UTF-8 code points within the expression text.
  int column() const { return column_; }
  // 0-based byte offset within the expression text.
  std::size_t offset() const { return offset_; }

 private:
  int column_;
  std::size_t offset_;
};

class audience_expr {
 public:
  struct impl;
  using tier_map = std::map<std::string, audience_expr>;

  // Throws audience_expr_error. `tiers` may be null: then any `tier` reference is an error.
  static audience_expr compile(std::string_view text, const tier_map* tiers = nullptr);

  bool matches(const contact& c, time_point now) const;
  const std::string& text() const;

  // The earliest instant after `now` at which matches(c, ·) may change with time alone (a
  // `<x>_days` value reaching one of the expression's numbers, a `<x>_months`/`_years` count
  // going up; tiers included), or nullopt when nothing in it depends on time for this contact.
  // Conservative: the result may change nothing, but no change happens before it.
  std::optional<time_point> next_change(const contact& c, time_point now) const;

  // One contact attribute the expression reads (not `phone`, `tz`, `tags` or `tier`): the name
  // as written (`last_purchase_days`), its 1-based column in this expression's text, and the
  // tier it is read through (`tier = active` reads the names of that tier's expression; the
  // column is then that of the tier name here), else empty. For the attribute-name check.
  struct name_use {
    std::string name;
    int column = 0;
    std::string tier;
  };
  std::vector<name_use> names() const;

 private:
  explicit audience_expr(std::shared_ptr<const impl> p) : impl_(std::move(p)) {}
  std::shared_ptr<const impl> impl_;
};

}  // namespace pigeon::engine::campaign
