// The segment expression parser (grammar in engine/campaign/audience.hpp).
#include <algorithm>
#include <charconv>
#include <iterator>
#include <utility>

#include "engine/campaign/audience_impl.hpp"

namespace pigeon::engine::campaign::segment_detail {

namespace {

struct token {
  enum type { word, quoted, oper, lbracket, rbracket, comma, lparen, rparen, end } t = end;
  std::string_view text;
  std::size_t offset = 0;
};

class parser {
 public:
  parser(std::string_view text, const audience_expr::tier_map* tiers, impl_getter impl_of,
         audience_expr::impl& out)
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
    throw audience_expr_error(message, column_at(s_, offset), offset);
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
        const audience_expr* found = nullptr;
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
  const audience_expr::tier_map* tiers_;
  impl_getter impl_of_;
  audience_expr::impl& out_;
  std::size_t pos_ = 0;
  token tok_;
};

}  // namespace

void parse_expression(std::string_view text, const audience_expr::tier_map* tiers,
                      impl_getter impl_of, audience_expr::impl& out) {
  parser(text, tiers, impl_of, out).run();
}

}  // namespace pigeon::engine::campaign::segment_detail
