#pragma once
// Internal to pigeon_engine: the compiled form of a segment expression, shared by its parser
// (engine/campaign/audience_parse.cpp) and its evaluation (engine/campaign/audience.cpp).

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/campaign/audience.hpp"

namespace pigeon::engine::campaign::segment_detail {

enum class op { eq, ne, lt, le, gt, ge };
enum class value_kind { number, quoted, word, boolean, date };
enum class subject { attribute, days, tags, tier, phone, tz };
enum class node_kind { and_, or_, not_, compare, in_list, exists };
// Outcome of comparing a contact's operand with one value.
enum class order { less, equal, greater, unequal, none };

struct value {
  value_kind kind = value_kind::word;
  std::string text;  // unquoted source text
  double number = 0;
  std::int64_t integer = 0;
  bool is_integer = false;
  bool boolean = false;
  std::chrono::sys_days day{};
  std::size_t offset = 0;
};

struct node {
  node_kind kind = node_kind::compare;
  int lhs = -1, rhs = -1;
  subject subj = subject::attribute;
  std::string name;             // attribute key; for days the `_at` key
  std::string fallback;         // for days: the literal `_days` key
  int unit = 0;                 // for days: 0 days, 1 whole months, 2 whole years
  std::size_t name_offset = 0;  // of the name in the expression text
  op oper = op::eq;
  bool negated = false;  // `not in`
  std::vector<value> values;
  std::vector<std::shared_ptr<const audience_expr::impl>> tiers;  // parallel to values for tier
};

inline bool word_char(char ch) {
  auto u = static_cast<unsigned char>(ch);
  return (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || u >= 0x80 ||
         ch == '_' || ch == '.' || ch == '-' || ch == '+' || ch == '/' || ch == '@';
}
inline bool digit(char ch) { return ch >= '0' && ch <= '9'; }
inline bool op_char(char ch) { return ch == '<' || ch == '>' || ch == '=' || ch == '!'; }

inline int digits(std::string_view s, std::size_t at, std::size_t n, bool& ok) {
  int v = 0;
  for (std::size_t i = at; i < at + n; ++i) {
    if (i >= s.size() || !digit(s[i])) {
      ok = false;
      return 0;
    }
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

inline std::optional<std::chrono::sys_days> parse_day(std::string_view s) {
  using namespace std::chrono;
  bool ok = s.size() >= 10 && s[4] == '-' && s[7] == '-';
  int y = digits(s, 0, 4, ok), m = digits(s, 5, 2, ok), d = digits(s, 8, 2, ok);
  if (!ok) return std::nullopt;
  year_month_day ymd{year{y}, month{static_cast<unsigned>(m)}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  return sys_days{ymd};
}

// Allocation-free for the stored form ("2026-11-01T00:00:00.000Z", with or without millis, or a
// bare date); anything else goes through parse_iso.
std::optional<time_point> parse_time(std::string_view s);

// The 1-based column, in code points, of byte `offset` in `s`.
inline int column_at(std::string_view s, std::size_t offset) {
  int column = 1;
  for (std::size_t i = 0; i < offset && i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) ++column;
  return column;
}

inline bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Parses `text` into `out` (nodes and root); throws audience_expr_error. `impl_of` reads a tier's
// compiled form (audience_expr keeps it private).
using impl_getter = std::shared_ptr<const audience_expr::impl> (*)(const audience_expr&);
void parse_expression(std::string_view text, const audience_expr::tier_map* tiers,
                      impl_getter impl_of, audience_expr::impl& out);

}  // namespace pigeon::engine::campaign::segment_detail

namespace pigeon::engine::campaign {

struct audience_expr::impl {
  std::string text;
  std::vector<segment_detail::node> nodes;
  int root = -1;

  bool eval(int i, const contact& c, time_point now) const;
  // Compare the node's operand with value k.
  segment_detail::order operand(const segment_detail::node& n, std::size_t k, const contact& c,
                                time_point now) const;
};

}  // namespace pigeon::engine::campaign
