#include "engine/campaign/calendar.hpp"

#include <date/tz.h>

#include <cstdio>

#include "engine/policy/send_window.hpp"

namespace pigeon::engine::campaign {

using namespace std::chrono;

std::optional<civil_day> attribute_day(std::string_view iso, const std::string& tz) {
  auto t = parse_iso(iso);
  if (!t) return std::nullopt;
  auto day = floor<days>(*t);
  if (*t == time_point(day)) return civil_day{sys_days{day}};
  return local_day(*t, tz);
}

int whole_months(civil_day from, civil_day to) {
  int months = (static_cast<int>(to.year()) - static_cast<int>(from.year())) * 12 +
               (static_cast<int>(static_cast<unsigned>(to.month())) -
                static_cast<int>(static_cast<unsigned>(from.month())));
  // The day the latest month would complete on: `from`'s day, or `to`'s month's last day.
  auto due_day = [](civil_day on, civil_day base) {
    auto last = year_month_day_last{on.year(), month_day_last{on.month()}}.day();
    return std::min(base.day(), last);
  };
  if (months > 0 && to.day() < due_day(to, from)) --months;
  if (months < 0 && from.day() < due_day(from, to)) ++months;
  return months;
}

civil_day anniversary_in(civil_day date, year y) {
  civil_day d{y, date.month(), date.day()};
  if (d.ok()) return d;
  return civil_day{year_month_day_last{y, month_day_last{date.month()}}};
}

civil_day monthly_in(civil_day date, year_month ym) {
  civil_day d{ym.year(), ym.month(), date.day()};
  if (d.ok()) return d;
  return civil_day{year_month_day_last{ym.year(), month_day_last{ym.month()}}};
}

std::string format_day(civil_day d) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(d.year()),
                static_cast<unsigned>(d.month()), static_cast<unsigned>(d.day()));
  return buf;
}

std::optional<civil_day> parse_day_text(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  int y = 0, m = 0, d = 0;
  for (std::size_t i = 0; i < 10; ++i) {
    if (i == 4 || i == 7) continue;
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    int v = s[i] - '0';
    if (i < 4)
      y = y * 10 + v;
    else if (i < 7)
      m = m * 10 + v;
    else
      d = d * 10 + v;
  }
  civil_day out{year{y}, month{static_cast<unsigned>(m)}, day{static_cast<unsigned>(d)}};
  if (!out.ok()) return std::nullopt;
  return out;
}

civil_day local_day(time_point t, const std::string& tz) {
  auto local = policy::find_zone(tz)->to_local(t);
  auto d = date::floor<date::days>(local);
  return civil_day{sys_days{days{d.time_since_epoch().count()}}};
}

}  // namespace pigeon::engine::campaign
