#include "engine/policy/send_window.hpp"

#include <doctest/doctest.h>

using namespace pigeon::engine;
using namespace pigeon::engine::policy;

namespace {
time_point at(const char* iso) { return *parse_iso(iso); }
clock_window window(std::vector<std::string> days, const char* between) {
  return *parse_window(days, between);
}
}  // namespace

TEST_CASE("a message inside its window in the recipient's local time may go") {
  // 02:40Z is 10:40 in Shanghai.
  auto d = check_window(at("2026-11-10T02:40:00Z"), "Asia/Shanghai", window({}, "10:30-11:00"), {});
  CHECK(d.open);
}

TEST_CASE("a message before its window is deferred to the window's opening that day") {
  auto d = check_window(at("2026-11-10T01:00:00Z"), "Asia/Shanghai", window({}, "10:30-11:00"), {});
  CHECK_FALSE(d.open);
  CHECK(d.next_open == at("2026-11-10T02:30:00Z"));
  CHECK(d.reason == "outside window 10:30-11:00 (recipient local 09:00, Asia/Shanghai)");
}

TEST_CASE("a message after its window waits for the next allowed day") {
  // Tuesday 2026-11-10 12:00 in Shanghai; the window is Mondays and Thursdays only.
  auto d = check_window(at("2026-11-10T04:00:00Z"), "Asia/Shanghai",
                        window({"mon", "thu"}, "10:30-11:00"), {});
  CHECK_FALSE(d.open);
  CHECK(d.next_open == at("2026-11-12T02:30:00Z"));
}

TEST_CASE("quiet hours crossing midnight hold a marketing message until they end") {
  auto quiet = window({}, "21:00-08:00");
  auto d = check_window(at("2026-11-10T15:00:00Z"), "Asia/Shanghai", std::nullopt, quiet);  // 23:00
  CHECK_FALSE(d.open);
  CHECK(d.next_open == at("2026-11-11T00:00:00Z"));  // 08:00 local
  CHECK(d.reason.find("quiet hours 21:00-08:00") == 0);
  CHECK(check_window(at("2026-11-10T03:00:00Z"), "Asia/Shanghai", std::nullopt, quiet).open);
}

TEST_CASE("a window that overlaps quiet hours opens when both allow it") {
  auto d = check_window(at("2026-11-10T12:00:00Z"), "Asia/Shanghai", window({}, "07:00-09:00"),
                        window({}, "21:00-08:00"));
  CHECK_FALSE(d.open);
  CHECK(d.next_open == at("2026-11-11T00:00:00Z"));  // 08:00, not 07:00
}

TEST_CASE("a window opening in a spring-forward gap opens at the first instant after it") {
  // New York, 2026-03-08: 02:00 jumps to 03:00 EDT; a 02:30-04:00 window opens at 03:00 EDT.
  auto d =
      check_window(at("2026-03-08T06:00:00Z"), "America/New_York", window({}, "02:30-04:00"), {});
  CHECK_FALSE(d.open);
  CHECK(d.next_open == at("2026-03-08T07:00:00Z"));
}

TEST_CASE("in a fall-back overlap the repeated local hour is inside the window both times") {
  // New York, 2026-11-01: 01:00-02:00 happens twice (EDT, then EST).
  auto w = window({}, "01:00-02:00");
  CHECK(check_window(at("2026-11-01T05:30:00Z"), "America/New_York", w, {}).open);  // EDT
  CHECK(check_window(at("2026-11-01T06:30:00Z"), "America/New_York", w, {}).open);  // EST
}

TEST_CASE("malformed windows are refused") {
  CHECK_FALSE(parse_window({"funday"}, "10:00-11:00"));
  CHECK_FALSE(parse_window({}, "10:00"));
  CHECK_FALSE(parse_window({}, "25:00-26:00"));
  CHECK(parse_window({}, "")->all_day());
}
