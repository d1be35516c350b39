#include "engine/policy/send_window.hpp"

#include <date/date.h>
#include <date/tz.h>

#include <algorithm>
#include <array>
#include <cstdio>

namespace pigeon::engine::policy {
namespace {

using std::chrono::minutes;

std::optional<int> parse_hhmm(std::string_view s) {
  int h = 0, m = 0;
  char tail = 0;
  std::string text(s);
  if (std::sscanf(text.c_str(), "%d:%d%c", &h, &m, &tail) != 2) return std::nullopt;
  if (h < 0 || h > 24 || m < 0 || m > 59 || (h == 24 && m != 0)) return std::nullopt;
  return h * 60 + m;
}

bool has_day(const clock_window& w, int weekday) {
  return w.days.empty() || std::find(w.days.begin(), w.days.end(), weekday) != w.days.end();
}

// Membership on the local wall clock: `weekday` of the local date, `m` minutes after midnight.
bool inside(const clock_window& w, int weekday, int m) {
  if (w.all_day()) return has_day(w, weekday);
  if (w.from_minute < w.to_minute)
    return has_day(w, weekday) && m >= w.from_minute && m < w.to_minute;
  return (m >= w.from_minute && has_day(w, weekday)) ||
         (m < w.to_minute && has_day(w, (weekday + 6) % 7));
}

struct local_point {
  int weekday;
  int minute;
};

local_point to_local(time_point t, const date::time_zone* z) {
  auto local = z->to_local(t);
  auto day = date::floor<date::days>(local);
  auto weekday = date::weekday(day).c_encoding();
  auto m = std::chrono::duration_cast<minutes>(local - day).count();
  return {static_cast<int>(weekday), static_cast<int>(m)};
}

bool allowed_at(time_point t, const date::time_zone* z, const std::optional<clock_window>& allowed,
                const std::optional<clock_window>& quiet) {
  auto p = to_local(t, z);
  if (allowed && !inside(*allowed, p.weekday, p.minute)) return false;
  if (quiet && !quiet->all_day() && inside(*quiet, p.weekday, p.minute)) return false;
  return true;
}

std::string hhmm(int m) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02d:%02d", m / 60, m % 60);
  return buf;
}

}  // namespace

const date::time_zone* find_zone(const std::string& tz) {
  try {
    return date::locate_zone(tz.empty() ? "UTC" : tz);
  } catch (const std::exception&) {
    return date::locate_zone("UTC");
  }
}

time_point local_to_utc(date::local_time<minutes> local, const date::time_zone* z) {
  auto info = z->get_info(local);
  if (info.result == date::local_info::nonexistent)
    return std::chrono::time_point_cast<std::chrono::milliseconds>(info.second.begin);
  return std::chrono::time_point_cast<std::chrono::milliseconds>(
      z->to_sys(local, date::choose::earliest));
}

std::optional<clock_window> parse_window(const std::vector<std::string>& days,
                                         std::string_view between) {
  static constexpr std::array<const char*, 7> names = {"sun", "mon", "tue", "wed",
                                                       "thu", "fri", "sat"};
  clock_window w;
  for (const auto& d : days) {
    auto it = std::find_if(names.begin(), names.end(), [&](const char* n) { return d == n; });
    if (it == names.end()) return std::nullopt;
    w.days.push_back(static_cast<int>(it - names.begin()));
  }
  if (!between.empty()) {
    auto dash = between.find('-');
    if (dash == std::string_view::npos) return std::nullopt;
    auto from = parse_hhmm(between.substr(0, dash));
    auto to = parse_hhmm(between.substr(dash + 1));
    if (!from || !to) return std::nullopt;
    w.from_minute = *from;
    w.to_minute = *to % (24 * 60);
  }
  return w;
}

window_decision check_window(time_point now, const std::string& tz,
                             const std::optional<clock_window>& allowed,
                             const std::optional<clock_window>& quiet) {
  const auto* z = find_zone(tz);
  if (allowed_at(now, z, allowed, quiet)) return {};
  // The permitted set is a union of intervals whose left ends are window openings or quiet-hour
  // ends, so the earliest permitted instant after `now` is one of those boundaries.
  std::vector<time_point> candidates;
  auto today = date::floor<date::days>(z->to_local(now));
  for (int d = -1; d <= 8; ++d) {
    auto day = today + date::days(d);
    if (allowed) candidates.push_back(local_to_utc(day + minutes(allowed->from_minute), z));
    if (quiet) candidates.push_back(local_to_utc(day + minutes(quiet->to_minute), z));
  }
  std::sort(candidates.begin(), candidates.end());
  window_decision out;
  out.open = false;
  out.next_open = now + date::days(8);
  for (auto t : candidates) {
    if (t > now && allowed_at(t, z, allowed, quiet)) {
      out.next_open = t;
      break;
    }
  }
  auto p = to_local(now, z);
  // Name the campaign's own window first when it is the (or a) reason.
  bool in_quiet = quiet && inside(*quiet, p.weekday, p.minute) &&
                  !(allowed && !inside(*allowed, p.weekday, p.minute));
  out.reason = in_quiet ? "quiet hours " + hhmm(quiet->from_minute) + "-" + hhmm(quiet->to_minute)
                        : "outside window " +
                              (allowed && !allowed->all_day()
                                   ? hhmm(allowed->from_minute) + "-" + hhmm(allowed->to_minute)
                                   : std::string("days"));
  out.reason += " (recipient local " + hhmm(p.minute) + ", " + (tz.empty() ? "UTC" : tz) + ")";
  return out;
}

}  // namespace pigeon::engine::policy
