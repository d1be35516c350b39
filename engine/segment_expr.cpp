#include "engine/segment_expr.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <iterator>
#include <optional>
#include <utility>
#include <vector>

#include "engine/calendar.hpp"

namespace pigeon::engine {

namespace {

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
  std::vector<std::shared_ptr<const segment_expr::impl>> tiers;  // parallel to values for tier
};

bool word_char(char ch) {
  auto u = static_cast<unsigned char>(ch);
  return (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || u >= 0x80 ||
         ch == '_' || ch == '.' || ch == '-' || ch == '+' || ch == '/' || ch == '@';
}
bool digit(char ch) { return ch >= '0' && ch <= '9'; }
bool op_char(char ch) { return ch == '<' || ch == '>' || ch == '=' || ch == '!'; }

int digits(std::string_view s, std::size_t at, std::size_t n, bool& ok) {
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

std::optional<std::chrono::sys_days> parse_day(std::string_view s) {
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
std::optional<time_point> parse_time(std::string_view s) {
  using namespace std::chrono;
  auto d = parse_day(s);
  if (d && s.size() == 10) return time_point(*d);
  if (d && (s.size() == 20 || s.size() == 24) && s[10] == 'T' && s[13] == ':' && s[16] == ':' &&
      s.back() == 'Z' && (s.size() == 20 || s[19] == '.')) {
    bool ok = true;
    int hh = digits(s, 11, 2, ok), mm = digits(s, 14, 2, ok), ss = digits(s, 17, 2, ok);
    int ms = s.size() == 24 ? digits(s, 20, 3, ok) : 0;
    if (ok && hh < 24 && mm < 60 && ss < 60)
      return time_point(*d) + hours(hh) + minutes(mm) + seconds(ss) + milliseconds(ms);
  }
  return parse_iso(s);
}

// The 1-based column, in code points, of byte `offset` in `s`.
int column_at(std::string_view s, std::size_t offset) {
  int column = 1;
  for (std::size_t i = 0; i < offset && i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) ++column;
  return column;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

template <class T>
order three_way(const T& a, const T& b) {
  return a < b ? order::less : b < a ? order::greater : order::equal;
}

bool apply(op o, order r) {
  switch (o) {
    case op::eq:
      return r == order::equal;
    case op::ne:
      return r != order::equal;
    case op::lt:
      return r == order::less;
    case op::le:
      return r == order::less || r == order::equal;
    case op::gt:
      return r == order::greater;
    case op::ge:
      return r == order::greater || r == order::equal;
  }
  return false;
}

order compare_json(const boost::json::value& a, const value& v) {
  switch (v.kind) {
    case value_kind::number:
      if (a.is_int64() && v.is_integer) return three_way(a.get_int64(), v.integer);
      if (a.is_int64()) return three_way(static_cast<double>(a.get_int64()), v.number);
      if (a.is_uint64()) return three_way(static_cast<double>(a.get_uint64()), v.number);
      if (a.is_double()) return three_way(a.get_double(), v.number);
      return order::none;
    case value_kind::quoted:
    case value_kind::word:
      if (!a.is_string()) return order::none;
      return three_way(std::string_view(a.get_string()), std::string_view(v.text));
    case value_kind::boolean:
      if (!a.is_bool()) return order::none;
      return a.get_bool() == v.boolean ? order::equal : order::unequal;
    case value_kind::date: {
      if (!a.is_string()) return order::none;
      auto t = parse_time(a.get_string());
      if (!t) return order::none;
      return three_way(std::chrono::floor<std::chrono::days>(*t), v.day);
    }
  }
  return order::none;
}

order compare_string(std::string_view s, const value& v) {
  if (v.kind != value_kind::quoted && v.kind != value_kind::word) return order::none;
  return three_way(s, std::string_view(v.text));
}

}  // namespace

struct segment_expr::impl {
  std::string text;
  std::vector<node> nodes;
  int root = -1;

  bool eval(int i, const contact& c, time_point now) const;
  // Compare the node's operand with value k.
  order operand(const node& n, std::size_t k, const contact& c, time_point now) const;
};

order segment_expr::impl::operand(const node& n, std::size_t k, const contact& c,
                                  time_point now) const {
  const value& v = n.values[k];
  switch (n.subj) {
    case subject::attribute: {
      auto it = c.attributes.find(n.name);
      return it == c.attributes.end() ? order::none : compare_json(it->value(), v);
    }
    case subject::days: {
      auto it = c.attributes.find(n.name);
      if (it == c.attributes.end()) {
        auto lit = c.attributes.find(n.fallback);
        return lit == c.attributes.end() ? order::none : compare_json(lit->value(), v);
      }
      if (!it->value().is_string()) return order::none;
      auto t = parse_time(it->value().get_string());
      if (!t) return order::none;
      auto days = std::chrono::floor<std::chrono::days>(now - *t).count();
      if (n.unit > 0) {  // whole months or years between the UTC days
        auto months =
            whole_months(std::chrono::year_month_day{std::chrono::floor<std::chrono::days>(*t)},
                         std::chrono::year_month_day{std::chrono::floor<std::chrono::days>(now)});
        days = n.unit == 1 ? months : months / 12;
      }
      return v.is_integer ? three_way<std::int64_t>(days, v.integer)
                          : three_way(static_cast<double>(days), v.number);
    }
    case subject::tags:
      for (const auto& tag : c.tags)
        if (tag == v.text) return order::equal;
      return order::unequal;
    case subject::tier:
      return n.tiers[k]->eval(n.tiers[k]->root, c, now) ? order::equal : order::unequal;
    case subject::phone:
      return c.phone.empty() ? order::none : compare_string(c.phone, v);
    case subject::tz:
      return c.tz.empty() ? order::none : compare_string(c.tz, v);
  }
  return order::none;
}

bool segment_expr::impl::eval(int i, const contact& c, time_point now) const {
  const node& n = nodes[static_cast<std::size_t>(i)];
  switch (n.kind) {
    case node_kind::and_:
      return eval(n.lhs, c, now) && eval(n.rhs, c, now);
    case node_kind::or_:
      return eval(n.lhs, c, now) || eval(n.rhs, c, now);
    case node_kind::not_:
      return !eval(n.lhs, c, now);
    case node_kind::compare:
      return apply(n.oper, operand(n, 0, c, now));
    case node_kind::in_list:
      for (std::size_t k = 0; k < n.values.size(); ++k)
        if (operand(n, k, c, now) == order::equal) return !n.negated;
      return n.negated;
    case node_kind::exists:
      switch (n.subj) {
        case subject::attribute:
          return c.attributes.contains(n.name);
        case subject::days:
          return c.attributes.contains(n.name) || c.attributes.contains(n.fallback);
        case subject::tags:
          return !c.tags.empty();
        case subject::phone:
          return !c.phone.empty();
        case subject::tz:
          return !c.tz.empty();
        case subject::tier:
          return false;
      }
  }
  return false;
}

namespace {

struct token {
  enum type { word, quoted, oper, lbracket, rbracket, comma, lparen, rparen, end } t = end;
  std::string_view text;
  std::size_t offset = 0;
};

class parser {
 public:
  using impl_getter = std::shared_ptr<const segment_expr::impl> (*)(const segment_expr&);

  parser(std::string_view text, const segment_expr::tier_map* tiers, impl_getter impl_of,
         segment_expr::impl& out)
      : s_(text), tiers_(tiers), impl_of_(impl_of), out_(out) {
    advance();
  }

  void run() {
    if (tok_.t == token::end) fail("empty expression", 0);
    out_.root = parse_or();
    if (tok_.t == token::rparen) fail("unmatched `)`", tok_.offset);
    if (tok_.t != token::end)
      fail("unexpected `" + std::string(tok_.text) + "` after the expression", tok_.offset);
  }

 private:
  [[noreturn]] void fail(const std::string& message, std::size_t offset) const {
    throw segment_expr_error(message, column_at(s_, offset), offset);
  }

  void advance() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t')) ++pos_;
    tok_ = token{token::end, {}, pos_};
    if (pos_ >= s_.size()) return;
    char ch = s_[pos_];
    std::size_t start = pos_;
    auto single = [&](token::type t) {
      tok_ = token{t, s_.substr(pos_, 1), start};
      ++pos_;
    };
    if (ch == '[') return single(token::lbracket);
    if (ch == ']') return single(token::rbracket);
    if (ch == ',') return single(token::comma);
    if (ch == '(') return single(token::lparen);
    if (ch == ')') return single(token::rparen);
    if (ch == '\'' || ch == '"') {
      auto close = s_.find(ch, pos_ + 1);
      if (close == std::string_view::npos) fail("unterminated quote", start);
      tok_ = token{token::quoted, s_.substr(pos_ + 1, close - pos_ - 1), start};
      pos_ = close + 1;
      return;
    }
    auto run = [&](bool (*pred)(char)) {
      while (pos_ < s_.size() && pred(s_[pos_])) ++pos_;
      return s_.substr(start, pos_ - start);
    };
    if (op_char(ch)) {
      tok_ = token{token::oper, run(op_char), start};
      return;
    }
    if (word_char(ch)) {
      tok_ = token{token::word, run(word_char), start};
      return;
    }
    fail("unexpected character `" + std::string(1, ch) + "`", start);
  }

  bool is_word(std::string_view w) const { return tok_.t == token::word && tok_.text == w; }

  int add(node n) {
    out_.nodes.push_back(std::move(n));
    return static_cast<int>(out_.nodes.size() - 1);
  }

  int combine(node_kind kind, int lhs, int rhs) {
    node n;
    n.kind = kind;
    n.lhs = lhs;
    n.rhs = rhs;
    out_.nodes.push_back(std::move(n));
    return static_cast<int>(out_.nodes.size() - 1);
  }

  int parse_or() {
    int lhs = parse_and();
    while (is_word("or")) advance(), lhs = combine(node_kind::or_, lhs, parse_and());
    return lhs;
  }

  int parse_and() {
    int lhs = parse_unary();
    while (is_word("and")) advance(), lhs = combine(node_kind::and_, lhs, parse_unary());
    return lhs;
  }

  int parse_unary() {
    if (is_word("not")) {
      advance();
      return combine(node_kind::not_, parse_unary(), -1);
    }
    if (tok_.t == token::lparen) {
      std::size_t open = tok_.offset;
      advance();
      int inner = parse_or();
      if (tok_.t != token::rparen) {
        if (tok_.t == token::end) fail("unterminated `(`", open);
        fail("expected `)` instead of `" + std::string(tok_.text) + "`", tok_.offset);
      }
      advance();
      return inner;
    }
    return parse_predicate();
  }

  static bool valid_name(std::string_view w) {
    if (w.empty() || digit(w[0]) || w[0] == '.') return false;
    for (char ch : w) {
      bool ok = digit(ch) || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
                ch == '.';
      if (!ok) return false;
    }
    return w != "and" && w != "or" && w != "not" && w != "in" && w != "exists";
  }

  int parse_predicate() {
    if (tok_.t == token::end) fail("missing condition", tok_.offset);
    if (tok_.t != token::word || !valid_name(tok_.text))
      fail("expected an attribute name instead of `" + std::string(tok_.text) + "`", tok_.offset);
    node n;
    std::string_view name = tok_.text;
    n.name = std::string(name);
    n.name_offset = tok_.offset;
    static constexpr std::pair<std::string_view, subject> special[] = {{"tags", subject::tags},
                                                                       {"tier", subject::tier},
                                                                       {"phone", subject::phone},
                                                                       {"tz", subject::tz}};
    for (const auto& [word, subj] : special)
      if (name == word) n.subj = subj;
    static constexpr std::pair<std::string_view, int> units[] = {
        {"_days", 0}, {"_months", 1}, {"_years", 2}};
    for (const auto& [suffix, unit] : units) {
      if (!ends_with(name, suffix)) continue;
      n.subj = subject::days;
      n.unit = unit;
      n.fallback = n.name;
      n.name = std::string(name.substr(0, name.size() - suffix.size())) + "_at";
    }
    advance();
    std::size_t op_at = tok_.offset;
    if (is_word("exists")) {
      if (n.subj == subject::tier) fail("`tier` cannot be used with `exists`", op_at);
      advance();
      n.kind = node_kind::exists;
      return add(std::move(n));
    }
    if (is_word("in") || is_word("not")) {
      n.kind = node_kind::in_list;
      if (is_word("not")) {
        n.negated = true;
        advance();
        if (!is_word("in")) fail("expected `in` after `not`", tok_.offset);
      }
      advance();
      parse_list(n);
    } else if (tok_.t == token::oper) {
      static constexpr std::pair<std::string_view, op> ops[] = {{"=", op::eq}, {"!=", op::ne},
                                                                {"<", op::lt}, {"<=", op::le},
                                                                {">", op::gt}, {">=", op::ge}};
      auto it = std::find_if(std::begin(ops), std::end(ops),
                             [&](const auto& o) { return o.first == tok_.text; });
      if (it == std::end(ops))
        fail("unknown operator `" + std::string(tok_.text) + "` (use = != < <= > >= in)", op_at);
      n.oper = it->second;
      advance();
      if (tok_.t == token::lbracket) fail("a list needs `in`, not an operator", tok_.offset);
      n.kind = node_kind::compare;
      n.values.push_back(parse_value());
    } else if (tok_.t == token::end) {
      fail("missing operator after `" + std::string(name) + "`", op_at);
    } else {
      fail("unknown operator `" + std::string(tok_.text) + "` (use = != < <= > >= in)", op_at);
    }
    check(n, name, op_at);
    return add(std::move(n));
  }

  void parse_list(node& n) {
    if (tok_.t != token::lbracket) fail("expected `[` after `in`", tok_.offset);
    std::size_t open = tok_.offset;
    advance();
    if (tok_.t == token::rbracket) {
      advance();
      return;
    }
    for (;;) {
      if (tok_.t == token::end) fail("unterminated list", open);
      n.values.push_back(parse_value());
      if (tok_.t == token::rbracket) break;
      if (tok_.t == token::end) fail("unterminated list", open);
      if (tok_.t != token::comma) fail("expected `,` or `]`", tok_.offset);
      advance();
    }
    advance();
  }

  value parse_value() {
    value v;
    v.offset = tok_.offset;
    if (tok_.t == token::quoted) {
      v.kind = value_kind::quoted;
    } else if (tok_.t != token::word) {
      fail("missing value", tok_.offset);
    } else {
      auto w = tok_.text;
      const char* end = w.data() + w.size();
      bool numeric = digit(w[0]) || (w.size() > 1 && w[0] == '-' && digit(w[1]));
      auto integer = std::from_chars(w.data(), end, v.integer);
      if (numeric && integer.ptr == end && integer.ec == std::errc()) {
        v.kind = value_kind::number;
        v.is_integer = true;
        v.number = static_cast<double>(v.integer);
      } else if (auto fixed = std::from_chars(w.data(), end, v.number, std::chars_format::fixed);
                 numeric && w.back() != '.' && fixed.ptr == end && fixed.ec == std::errc()) {
        v.kind = value_kind::number;
      } else if (w == "true" || w == "false") {
        v.kind = value_kind::boolean;
        v.boolean = w == "true";
      } else if (auto day = parse_day(w); day && w.size() == 10) {
        v.kind = value_kind::date;
        v.day = *day;
      } else {
        v.kind = value_kind::word;
      }
    }
    v.text = std::string(tok_.text);
    advance();
    return v;
  }

  // Static type checks and tier resolution.
  void check(node& n, std::string_view name, std::size_t op_at) {
    bool ordering = n.kind == node_kind::compare && n.oper != op::eq && n.oper != op::ne;
    if (ordering && (n.subj == subject::tags || n.subj == subject::tier))
      fail("`" + std::string(name) + "` supports only = != in", op_at);
    for (const auto& v : n.values) {
      auto bad = [&](const std::string& why) {
        fail("type mismatch: " + why + ", got `" + v.text + "`", v.offset);
      };
      if (n.subj == subject::days && v.kind != value_kind::number)
        bad("`" + std::string(name) + "` is a number of days");
      if (n.subj == subject::attribute && ends_with(name, "_at") && v.kind != value_kind::date)
        bad("`" + std::string(name) + "` is a time: compare it with a date YYYY-MM-DD");
      if (ordering && (v.kind == value_kind::word || v.kind == value_kind::boolean))
        bad("ordering needs a number, a date or a quoted string");
      if (n.subj == subject::tier) {
        if (v.kind != value_kind::word && v.kind != value_kind::quoted)
          bad("`tier` takes a tier name");
        const segment_expr* found = nullptr;
        if (tiers_) {
          auto it = tiers_->find(v.text);
          if (it != tiers_->end()) found = &it->second;
        }
        if (!found) fail("unknown tier `" + v.text + "`", v.offset);
        n.tiers.push_back(impl_of_(*found));
      }
    }
  }

  std::string_view s_;
  const segment_expr::tier_map* tiers_;
  impl_getter impl_of_;
  segment_expr::impl& out_;
  std::size_t pos_ = 0;
  token tok_;
};

}  // namespace

segment_expr segment_expr::compile(std::string_view text, const tier_map* tiers) {
  auto p = std::make_shared<impl>();
  p->text = std::string(text);
  parser::impl_getter impl_of = [](const segment_expr& e) { return e.impl_; };
  parser(p->text, tiers, impl_of, *p).run();
  return segment_expr(std::move(p));
}

bool segment_expr::matches(const contact& c, time_point now) const {
  return impl_->eval(impl_->root, c, now);
}

const std::string& segment_expr::text() const { return impl_->text; }

std::vector<segment_expr::name_use> segment_expr::names() const {
  std::vector<name_use> out;
  for (const node& n : impl_->nodes) {
    if (n.kind != node_kind::compare && n.kind != node_kind::in_list && n.kind != node_kind::exists)
      continue;
    if (n.subj == subject::attribute || n.subj == subject::days) {
      out.push_back({n.subj == subject::days ? n.fallback : n.name,
                     column_at(impl_->text, n.name_offset),
                     {}});
    } else if (n.subj == subject::tier) {
      for (std::size_t k = 0; k < n.tiers.size() && k < n.values.size(); ++k) {
        int column = column_at(impl_->text, n.values[k].offset);
        for (auto& use : segment_expr(n.tiers[k]).names())
          out.push_back({std::move(use.name), column, n.values[k].text});
      }
    }
  }
  return out;
}

}  // namespace pigeon::engine
