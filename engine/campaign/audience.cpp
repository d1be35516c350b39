#include "engine/campaign/audience.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <optional>
#include <utility>
#include <vector>

#include "engine/campaign/audience_impl.hpp"
#include "engine/campaign/calendar.hpp"

namespace pigeon::engine::campaign {

using namespace segment_detail;

namespace segment_detail {

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

}  // namespace segment_detail

namespace {

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

order audience_expr::impl::operand(const node& n, std::size_t k, const contact& c,
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

bool audience_expr::impl::eval(int i, const contact& c, time_point now) const {
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

audience_expr audience_expr::compile(std::string_view text, const tier_map* tiers) {
  auto p = std::make_shared<impl>();
  p->text = std::string(text);
  segment_detail::impl_getter impl_of = [](const audience_expr& e) { return e.impl_; };
  segment_detail::parse_expression(p->text, tiers, impl_of, *p);
  return audience_expr(std::move(p));
}

bool audience_expr::matches(const contact& c, time_point now) const {
  return impl_->eval(impl_->root, c, now);
}

const std::string& audience_expr::text() const { return impl_->text; }

std::optional<time_point> audience_expr::next_change(const contact& c, time_point now) const {
  using namespace std::chrono;
  std::optional<time_point> next;
  auto consider = [&](time_point t) {
    if (t > now && (!next || t < *next)) next = t;
  };
  for (const node& n : impl_->nodes) {
    if (n.subj == subject::tier) {
      for (const auto& tier : n.tiers)
        if (auto t = audience_expr(tier).next_change(c, now)) consider(*t);
      continue;
    }
    if (n.subj != subject::days || n.kind == node_kind::exists) continue;
    auto it = c.attributes.find(n.name);
    if (it == c.attributes.end() || !it->value().is_string()) continue;  // a literal: no clock
    auto t = parse_time(it->value().get_string());
    if (!t) continue;
    if (n.unit == 0) {
      // v(now) = whole days since t: a comparison with N can only
      // change when v becomes floor(N), floor(N) + 1 or ceil(N).
      for (const auto& v : n.values) {
        double x = v.is_integer ? static_cast<double>(v.integer) : v.number;
        for (double d : {std::floor(x), std::floor(x) + 1, std::ceil(x)})
          consider(*t + days(static_cast<long long>(d)));
      }
    } else {
      // Whole months (or years) go up on the day the month count
      // completes.
      year_month_day from{floor<days>(*t)};
      year_month_day today{floor<days>(now)};
      auto this_month = monthly_in(from, today.year() / today.month());
      auto on = sys_days{this_month} > sys_days{today}
                    ? this_month
                    : monthly_in(from, (today.year() / today.month()) + months(1));
      consider(time_point(sys_days{on}));
    }
  }
  return next;
}

std::vector<audience_expr::name_use> audience_expr::names() const {
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
        for (auto& use : audience_expr(n.tiers[k]).names())
          out.push_back({std::move(use.name), column, n.values[k].text});
      }
    }
  }
  return out;
}

}  // namespace pigeon::engine::campaign
