// The template filters: upper, lower, number(decimals), date(pattern).
#include <array>
#include <charconv>
#include <cstdio>

#include "templates/template.hpp"

namespace pigeon::templates {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// ASCII and Latin-1 letters (U+00C0..U+00FE, except the multiplication and division signs);
// everything else, CJK included, is copied unchanged.
void change_case(std::string_view value, bool upper, std::string& out) {
  const std::size_t start = out.size();
  out.append(value);
  for (std::size_t i = start; i < out.size(); ++i) {
    auto& c = reinterpret_cast<unsigned char&>(out[i]);
    if (upper ? (c >= 'a' && c <= 'z') : (c >= 'A' && c <= 'Z')) {
      c ^= 0x20;
    } else if (c == 0xC3 && i + 1 < out.size()) {
      auto& n = reinterpret_cast<unsigned char&>(out[i + 1]);
      if (upper ? (n >= 0xA0 && n <= 0xBE && n != 0xB7) : (n >= 0x80 && n <= 0x9E && n != 0x97)) {
        n ^= 0x20;
      }
      ++i;
    }
  }
}

// Fixed-point formatting by decimal string arithmetic: exact, rounds half away from zero.
bool format_number(std::string_view value, int decimals, std::string& out) {
  value = trim(value);
  bool negative = false;
  if (!value.empty() && (value.front() == '-' || value.front() == '+')) {
    negative = value.front() == '-';
    value.remove_prefix(1);
  }
  const auto dot = value.find('.');
  std::string_view int_part = value.substr(0, dot);
  const std::string_view frac =
      dot == std::string_view::npos ? std::string_view{} : value.substr(dot + 1);
  if (int_part.empty() && frac.empty()) return false;
  for (char c : int_part)
    if (!is_digit(c)) return false;
  for (char c : frac)
    if (!is_digit(c)) return false;
  while (int_part.size() > 1 && int_part.front() == '0') int_part.remove_prefix(1);

  std::array<char, 64> stack_digits{};
  std::string heap_digits;
  const std::size_t n = int_part.size() + static_cast<std::size_t>(decimals) + 1;
  char* d = stack_digits.data();
  if (n > stack_digits.size()) {
    heap_digits.assign(n, '0');
    d = heap_digits.data();
  }
  d[0] = '0';  // room for a carry
  std::size_t len = 1;
  for (char c : int_part) d[len++] = c;
  if (int_part.empty()) d[len++] = '0';
  for (int i = 0; i < decimals; ++i) {
    d[len++] = static_cast<std::size_t>(i) < frac.size() ? frac[static_cast<std::size_t>(i)] : '0';
  }
  if (static_cast<std::size_t>(decimals) < frac.size() &&
      frac[static_cast<std::size_t>(decimals)] >= '5') {
    for (std::size_t i = len; i-- > 0;) {
      if (d[i] == '9') {
        d[i] = '0';
      } else {
        ++d[i];
        break;
      }
    }
  }
  std::size_t first = d[0] == '0' ? 1 : 0;
  const std::size_t int_end = len - static_cast<std::size_t>(decimals);
  bool zero = true;
  for (std::size_t i = 0; i < len; ++i) zero = zero && d[i] == '0';
  if (negative && !zero) out.push_back('-');
  out.append(d + first, int_end - first);
  if (decimals > 0) {
    out.push_back('.');
    out.append(d + int_end, static_cast<std::size_t>(decimals));
  }
  return true;
}

struct date_time {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
};

bool read_int(std::string_view& s, std::size_t digits, int& v) {
  if (s.size() < digits) return false;
  for (std::size_t i = 0; i < digits; ++i)
    if (!is_digit(s[i])) return false;
  std::from_chars(s.data(), s.data() + digits, v);
  s.remove_prefix(digits);
  return true;
}

bool eat(std::string_view& s, char c) {
  if (s.empty() || s.front() != c) return false;
  s.remove_prefix(1);
  return true;
}

bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(int y, int m) {
  constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : days[m - 1];
}

// YYYY-MM-DD, then optionally [T or space]HH:MM[:SS[.fraction]], then optionally Z or an
// offset (+08:00, +0800, +08). The offset is accepted and ignored: the time is shown as written.
bool parse_iso(std::string_view s, date_time& t) {
  s = trim(s);
  if (!read_int(s, 4, t.year) || !eat(s, '-') || !read_int(s, 2, t.month) || !eat(s, '-') ||
      !read_int(s, 2, t.day)) {
    return false;
  }
  if (t.month < 1 || t.month > 12 || t.day < 1 || t.day > days_in_month(t.year, t.month)) {
    return false;
  }
  if (s.empty()) return true;
  if (!eat(s, 'T') && !eat(s, ' ')) return false;
  if (!read_int(s, 2, t.hour) || !eat(s, ':') || !read_int(s, 2, t.minute)) return false;
  if (eat(s, ':')) {
    if (!read_int(s, 2, t.second)) return false;
    if (eat(s, '.') || eat(s, ',')) {
      if (s.empty() || !is_digit(s.front())) return false;
      while (!s.empty() && is_digit(s.front())) s.remove_prefix(1);
    }
  }
  if (t.hour > 23 || t.minute > 59 || t.second > 60) return false;
  if (s.empty() || s == "Z" || s == "z") return true;
  if (s.front() != '+' && s.front() != '-') return false;
  s.remove_prefix(1);
  int oh = 0, om = 0;
  if (!read_int(s, 2, oh)) return false;
  eat(s, ':');
  if (!s.empty() && !read_int(s, 2, om)) return false;
  return s.empty() && oh <= 23 && om <= 59;
}

// 0 = Sunday. Howard Hinnant's days_from_civil; 1970-01-01 was a Thursday.
int weekday(int y, int m, int d) {
  y -= m <= 2;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const int yoe = y - era * 400;
  const int doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const long days = static_cast<long>(era) * 146097 + doe - 719468;
  return static_cast<int>(((days % 7) + 11) % 7);
}

constexpr const char* day_names[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                     "Thursday", "Friday", "Saturday"};
constexpr const char* month_names[] = {"January",   "February", "March",    "April",
                                       "May",       "June",     "July",     "August",
                                       "September", "October",  "November", "December"};

void put(std::string& out, int v, int width) {
  char buf[16];
  const int n = std::snprintf(buf, sizeof buf, "%0*d", width, v);
  out.append(buf, static_cast<std::size_t>(n));
}

void format_date(const date_time& t, std::string_view pattern, std::string& out) {
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '%' || i + 1 >= pattern.size()) {
      out.push_back(pattern[i]);
      continue;
    }
    char c = pattern[++i];
    const bool no_pad = c == '-' && i + 1 < pattern.size();
    if (no_pad) c = pattern[++i];
    const int w = no_pad ? 1 : 2;
    const int hour12 = t.hour % 12 == 0 ? 12 : t.hour % 12;
    switch (c) {
      case 'Y':
        put(out, t.year, 4);
        break;
      case 'y':
        put(out, t.year % 100, 2);
        break;
      case 'm':
        put(out, t.month, w);
        break;
      case 'd':
        put(out, t.day, w);
        break;
      case 'H':
        put(out, t.hour, w);
        break;
      case 'I':
        put(out, hour12, w);
        break;
      case 'M':
        put(out, t.minute, w);
        break;
      case 'S':
        put(out, t.second, w);
        break;
      case 'p':
        out.append(t.hour < 12 ? "AM" : "PM");
        break;
      case 'a':
        out.append(day_names[weekday(t.year, t.month, t.day)], 3);
        break;
      case 'A':
        out.append(day_names[weekday(t.year, t.month, t.day)]);
        break;
      case 'b':
        out.append(month_names[t.month - 1], 3);
        break;
      case 'B':
        out.append(month_names[t.month - 1]);
        break;
      case 'F':
        format_date(t, "%Y-%m-%d", out);
        break;
      case 'R':
        format_date(t, "%H:%M", out);
        break;
      case 'T':
        format_date(t, "%H:%M:%S", out);
        break;
      default:
        out.push_back(c);
        break;  // '%%'; unknown directives are rejected at compile time
    }
  }
}

}  // namespace

bool apply_filter(const compiled_template::filter& f, std::string_view value, std::string& out) {
  switch (f.kind) {
    case compiled_template::filter_kind::upper:
      change_case(value, true, out);
      return true;
    case compiled_template::filter_kind::lower:
      change_case(value, false, out);
      return true;
    case compiled_template::filter_kind::number:
      return format_number(value, f.decimals, out);
    case compiled_template::filter_kind::date: {
      date_time t;
      if (!parse_iso(value, t)) return false;
      format_date(t, f.pattern, out);
      return true;
    }
  }
  return false;
}

}  // namespace pigeon::templates
