#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

// Parsers for the small value syntaxes used in pigeon's YAML files. The loaders validate with
// these, and the engine may use them to interpret the strings kept in the config structs.
// All are pure functions, safe to call from any thread.
namespace pigeon::config {

// "30s", "30m", "12h", "7d", "2w" -> seconds. nullopt when malformed or not positive.
std::optional<std::chrono::seconds> parse_duration(std::string_view text);

// "100/s", "6000/min", "3600/h" (decimals allowed) -> per second. nullopt when malformed or
// not positive.
std::optional<double> parse_rate(std::string_view text);
// "0.045 CNY": a non-negative decimal amount, one space, three upper-case letters (ISO 4217).
std::optional<std::pair<double, std::string>> parse_price(std::string_view text);

// "HH:MM" (00:00..23:59) -> minutes since midnight.
std::optional<std::chrono::minutes> parse_clock_time(std::string_view text);

// "HH:MM-HH:MM"; `to` earlier than `from` means the range crosses midnight. Equal ends are
// rejected (ambiguous between "never" and "always").
struct clock_range {
  std::chrono::minutes from{0};
  std::chrono::minutes to{0};
  bool crosses_midnight() const { return to < from; }
};
std::optional<clock_range> parse_clock_range(std::string_view text);

// "YYYY-MM-DD", a real calendar date.
std::optional<std::chrono::year_month_day> parse_iso_date(std::string_view text);

// A step's `at`: "now"; relative to the campaign anchor ("-7d 10:30", "0d", "+2d 09:00");
// or absolute ("2026-11-11T10:30:00+08:00", "2026-11-11 10:30", "2026-11-11T02:30Z"); or a
// delay ("+2h", "+30m": `after`, only for a step a reply queues, counted from the reply).
enum class step_time_kind { now, relative, absolute, after };
struct step_time {
  step_time_kind kind = step_time_kind::now;
  std::chrono::seconds delay{0};                    // after only
  int day_offset = 0;                               // relative only
  std::optional<std::chrono::minutes> time_of_day;  // relative: when HH:MM is given
  std::chrono::year_month_day date{};               // absolute only
  std::chrono::seconds time{0};                     // absolute: since midnight
  std::optional<std::chrono::minutes> utc_offset;   // absolute: when a zone is given
};
std::optional<step_time> parse_step_at(std::string_view text);

}  // namespace pigeon::config
