#include "config/values.hpp"

#include <charconv>
#include <cstdint>
#include <string>

namespace pigeon::config {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads exactly `count` digits from the front of `text`, advancing it.
std::optional<int> take_digits(std::string_view& text, std::size_t count) {
  if (text.size() < count) return std::nullopt;
  int value = 0;
  for (std::size_t i = 0; i < count; ++i) {
    if (!is_digit(text[i])) return std::nullopt;
    value = value * 10 + (text[i] - '0');
  }
  text.remove_prefix(count);
  return value;
}

bool take_char(std::string_view& text, char c) {
  if (text.empty() || text.front() != c) return false;
  text.remove_prefix(1);
  return true;
}

// "HH:MM" at the front of `text`.
std::optional<std::chrono::minutes> take_clock(std::string_view& text) {
  auto hours = take_digits(text, 2);
  if (!hours || !take_char(text, ':')) return std::nullopt;
  auto minutes = take_digits(text, 2);
  if (!minutes || *hours > 23 || *minutes > 59) return std::nullopt;
  return std::chrono::minutes{*hours * 60 + *minutes};
}

std::optional<std::chrono::year_month_day> take_date(std::string_view& text) {
  auto year = take_digits(text, 4);
  if (!year || !take_char(text, '-')) return std::nullopt;
  auto month = take_digits(text, 2);
  if (!month || !take_char(text, '-')) return std::nullopt;
  auto day = take_digits(text, 2);
  if (!day) return std::nullopt;
  std::chrono::year_month_day date{std::chrono::year{*year},
                                   std::chrono::month{static_cast<unsigned>(*month)},
                                   std::chrono::day{static_cast<unsigned>(*day)}};
  if (!date.ok()) return std::nullopt;
  return date;
}

}  // namespace

std::optional<std::chrono::seconds> parse_duration(std::string_view text) {
  if (text.size() < 2) return std::nullopt;
  std::int64_t unit = 0;
  switch (text.back()) {
    case 's':
      unit = 1;
      break;
    case 'm':
      unit = 60;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = 86400;
      break;
    case 'w':
      unit = 7 * 86400;
      break;
    default:
      return std::nullopt;
  }
  std::string_view number = text.substr(0, text.size() - 1);
  if (!is_digit(number.front())) return std::nullopt;
  std::int64_t count = 0;
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), count);
  if (ec != std::errc{} || end != number.data() + number.size()) return std::nullopt;
  // Ten years is far beyond any sensible window; comparing by division keeps the check itself
  // from overflowing on a huge count.
  if (count <= 0 || count > 3650LL * 86400 / unit) return std::nullopt;
  return std::chrono::seconds{count * unit};
}

std::optional<double> parse_rate(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0) return std::nullopt;
  std::string_view number = text.substr(0, slash);
  std::string_view unit = text.substr(slash + 1);
  double per = 0;
  if (unit == "s") {
    per = 1;
  } else if (unit == "min" || unit == "m") {
    per = 60;
  } else if (unit == "h") {
    per = 3600;
  } else {
    return std::nullopt;
  }
  if (!is_digit(number.front())) return std::nullopt;
  double count = 0;
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), count);
  if (ec != std::errc{} || end != number.data() + number.size() || !(count > 0)) {
    return std::nullopt;
  }
  return count / per;
}

std::optional<std::pair<double, std::string>> parse_price(std::string_view text) {
  auto space = text.find(' ');
  if (space == std::string_view::npos || space == 0) return std::nullopt;
  std::string_view number = text.substr(0, space);
  std::string_view currency = text.substr(space + 1);
  if (currency.size() != 3) return std::nullopt;
  for (char c : currency)
    if (c < 'A' || c > 'Z') return std::nullopt;
  if (!is_digit(number.front())) return std::nullopt;
  double amount = 0;
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), amount);
  if (ec != std::errc{} || end != number.data() + number.size() || !(amount >= 0) || amount > 1e6)
    return std::nullopt;
  return std::pair{amount, std::string(currency)};
}

std::optional<std::chrono::minutes> parse_clock_time(std::string_view text) {
  auto time = take_clock(text);
  if (!time || !text.empty()) return std::nullopt;
  return time;
}

std::optional<clock_range> parse_clock_range(std::string_view text) {
  auto from = take_clock(text);
  if (!from || !take_char(text, '-')) return std::nullopt;
  auto to = take_clock(text);
  if (!to || !text.empty() || *from == *to) return std::nullopt;
  return clock_range{*from, *to};
}

std::optional<std::chrono::year_month_day> parse_iso_date(std::string_view text) {
  auto date = take_date(text);
  if (!date || !text.empty()) return std::nullopt;
  return date;
}

std::optional<step_time> parse_step_at(std::string_view text) {
  step_time result;
  if (text == "now") return result;
  if (text.size() >= 3 && text[0] == '+' && (text.back() == 'h' || text.back() == 'm')) {
    auto delay = parse_duration(text.substr(1));
    if (!delay || text[1] == '+') return std::nullopt;
    result.kind = step_time_kind::after;
    result.delay = *delay;
    return result;
  }
  if (text.size() >= 2 && (text[0] == '+' || text[0] == '-' || is_digit(text[0]))) {
    // Relative: [+-]N d [HH:MM]. An absolute date also starts with a digit, so look for the 'd'.
    std::string_view rest = text;
    int sign = 1;
    if (rest[0] == '+' || rest[0] == '-') {
      sign = rest[0] == '-' ? -1 : 1;
      rest.remove_prefix(1);
    }
    std::size_t digits = 0;
    while (digits < rest.size() && is_digit(rest[digits])) ++digits;
    if (digits > 0 && digits <= 4 && digits < rest.size() && rest[digits] == 'd') {
      int days = 0;
      std::from_chars(rest.data(), rest.data() + digits, days);
      rest.remove_prefix(digits + 1);
      result.kind = step_time_kind::relative;
      result.day_offset = sign * days;
      if (rest.empty()) return result;
      if (!take_char(rest, ' ')) return std::nullopt;
      while (take_char(rest, ' ')) {
      }
      result.time_of_day = take_clock(rest);
      if (!result.time_of_day || !rest.empty()) return std::nullopt;
      return result;
    }
  }
  // Absolute: YYYY-MM-DD('T'|' ')HH:MM[:SS][Z|+HH:MM|-HH:MM]
  std::string_view rest = text;
  auto date = take_date(rest);
  if (!date || !(take_char(rest, 'T') || take_char(rest, ' '))) return std::nullopt;
  auto clock = take_clock(rest);
  if (!clock) return std::nullopt;
  std::chrono::seconds time = *clock;
  if (take_char(rest, ':')) {
    auto seconds = take_digits(rest, 2);
    if (!seconds || *seconds > 59) return std::nullopt;
    time += std::chrono::seconds{*seconds};
  }
  result.kind = step_time_kind::absolute;
  result.date = *date;
  result.time = time;
  if (take_char(rest, 'Z')) {
    result.utc_offset = std::chrono::minutes{0};
  } else if (!rest.empty() && (rest[0] == '+' || rest[0] == '-')) {
    int sign = rest[0] == '-' ? -1 : 1;
    rest.remove_prefix(1);
    auto offset = take_clock(rest);
    if (!offset || *offset > std::chrono::hours{14}) return std::nullopt;
    result.utc_offset = sign * *offset;
  }
  if (!rest.empty()) return std::nullopt;
  return result;
}

}  // namespace pigeon::config
