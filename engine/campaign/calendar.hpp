#pragma once
// Calendar arithmetic for lifecycle journeys and the derived `<name>_years` / `<name>_months`
// of date attributes (templates, segment expressions). Pure functions; thread-safe.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "engine/model/model.hpp"

namespace pigeon::engine::campaign {

using civil_day = std::chrono::year_month_day;

// The calendar day of a stored `_at` attribute (ISO text) for a recipient in `tz`: a value at
// exactly midnight UTC is a date written without a time ("1990-03-14") and is that day wherever
// the recipient lives; any other instant is the local date in `tz`. Nullopt when unreadable.
std::optional<civil_day> attribute_day(std::string_view iso, const std::string& tz);

// Whole months from `from` to `to` (negative when `to` is earlier), counting a month complete on
// the same day of a later month, or on that month's last day when it is shorter (31 Jan -> 28 Feb
// is one month; 29 Feb -> 28 Feb of a common year is a year).
int whole_months(civil_day from, civil_day to);

// The day `date` recurs in year `y` (every: year): 29 Feb falls on 28 Feb in a common year.
civil_day anniversary_in(civil_day date, std::chrono::year y);
// The day `date` recurs in the month `ym` (every: month): the 31st falls on a shorter month's
// last day.
civil_day monthly_in(civil_day date, std::chrono::year_month ym);

// "YYYY-MM-DD" and back (nullopt when malformed or not a real day).
std::string format_day(civil_day d);
std::optional<civil_day> parse_day_text(std::string_view text);

// The local calendar day of `t` in `tz`.
civil_day local_day(time_point t, const std::string& tz);

}  // namespace pigeon::engine::campaign
