#include "config/values.hpp"

#include <doctest/doctest.h>

using namespace pigeon::config;
using namespace std::chrono_literals;

TEST_CASE("durations are read in seconds, minutes, hours, days and weeks") {
  CHECK(parse_duration("30s") == 30s);
  CHECK(parse_duration("30m") == 30min);
  CHECK(parse_duration("12h") == 12h);
  CHECK(parse_duration("7d") == std::chrono::days{7});
  CHECK(parse_duration("2w") == std::chrono::weeks{2});
  for (const char* bad : {"", "d", "7", "0d", "-1d", "1.5d", "7 d", "7D", "99999999d",
                          "6148914691236517204d", "9223372036854775807s"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_duration(bad));
  }
}

TEST_CASE("rates are converted to per second") {
  CHECK(*parse_rate("100/s") == doctest::Approx(100));
  CHECK(*parse_rate("60/min") == doctest::Approx(1));
  CHECK(*parse_rate("1800/h") == doctest::Approx(0.5));
  CHECK_FALSE(parse_rate("0/s"));
  CHECK_FALSE(parse_rate("1/d"));
  CHECK_FALSE(parse_rate("+1/s"));
}

TEST_CASE("clock ranges may cross midnight but may not be empty") {
  auto range = parse_clock_range("21:00-08:00");
  REQUIRE(range);
  CHECK(range->from == 21h);
  CHECK(range->to == 8h);
  CHECK(range->crosses_midnight());
  CHECK_FALSE(parse_clock_range("10:30-11:00")->crosses_midnight());
  CHECK_FALSE(parse_clock_range("10:00-10:00"));
  CHECK_FALSE(parse_clock_range("24:00-01:00"));
  CHECK_FALSE(parse_clock_range("10:00 - 11:00"));
  CHECK(parse_clock_time("23:59") == 23h + 59min);
}

TEST_CASE("step times parse into now, relative and absolute forms") {
  CHECK(parse_step_at("now")->kind == step_time_kind::now);
  auto relative = parse_step_at("-7d 10:30");
  REQUIRE(relative);
  CHECK(relative->kind == step_time_kind::relative);
  CHECK(relative->day_offset == -7);
  CHECK(relative->time_of_day == 10h + 30min);
  auto day_only = parse_step_at("+2d");
  CHECK(day_only->day_offset == 2);
  CHECK_FALSE(day_only->time_of_day);
  auto absolute = parse_step_at("2026-11-11T10:30:15+08:00");
  REQUIRE(absolute);
  CHECK(absolute->kind == step_time_kind::absolute);
  CHECK(absolute->date == std::chrono::year{2026} / 11 / 11);
  CHECK(absolute->time == 10h + 30min + 15s);
  CHECK(absolute->utc_offset == 8h);
  auto local = parse_step_at("2026-11-11 10:30");
  CHECK_FALSE(local->utc_offset);
  CHECK(parse_step_at("2026-11-11T10:30-05:30")->utc_offset == -(5h + 30min));
  CHECK(parse_iso_date("2028-02-29"));
  CHECK_FALSE(parse_iso_date("2026-02-29"));
}
