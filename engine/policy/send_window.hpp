#pragma once

#include <date/tz.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/model/model.hpp"

namespace pigeon::engine::policy {

// When a message may go out, in the recipient's local time: the step's (else the campaign's)
// window, minus the engine's quiet hours for marketing. Pure functions; thread-safe.
//
// A window is a set of days (mon..sun; empty = every day) and a `between` range "HH:MM-HH:MM"
// (empty = all day). A range may cross midnight ("21:00-08:00"); its early-morning part then
// belongs to the day it started on, so `days: [fri]` with "22:00-02:00" covers Friday 22:00 to
// Saturday 02:00.
//
// DST: local times are converted with the zone's rules. A window opening inside a
// spring-forward gap opens at the first instant after the gap; in a fall-back overlap it opens at
// the earlier instant, and membership is decided on the local wall-clock time, so the repeated
// hour counts twice.

// The zone for an IANA name; an unknown or empty name means UTC.
const date::time_zone* find_zone(const std::string& tz);

// A local wall-clock time in `zone` as a UTC instant: in a spring-forward gap, the first instant
// after the gap; in a fall-back overlap, the earlier of the two instants.
time_point local_to_utc(date::local_time<std::chrono::minutes> local, const date::time_zone* zone);

struct clock_window {
  std::vector<int> days;  // 0 = Sunday .. 6 = Saturday; empty = every day
  int from_minute = 0;    // local minutes after midnight
  int to_minute = 0;      // from == to means all day
  bool all_day() const { return from_minute == to_minute; }
};

// Reads days (mon..sun) and a between range; nullopt when either is malformed.
std::optional<clock_window> parse_window(const std::vector<std::string>& days,
                                         std::string_view between);

struct window_decision {
  bool open = true;
  time_point next_open{};  // when !open: the earliest instant the message may go
  std::string reason;      // when !open: why, for the message log
};

// Whether `now` is inside `allowed` (if any) and outside `quiet` (if any) in zone `tz` (an IANA
// name; unknown or empty means UTC), and otherwise the next instant that is, searched over the
// next 8 days. A window that never opens gives open=false with next_open = now + 8 days.
window_decision check_window(time_point now, const std::string& tz,
                             const std::optional<clock_window>& allowed,
                             const std::optional<clock_window>& quiet);

}  // namespace pigeon::engine::policy
