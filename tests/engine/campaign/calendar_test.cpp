// The calendar behind lifecycle journeys: anniversaries of 29 Feb and of the 31st, whole months
// and years, and what day a stored date attribute is for a recipient.
#include "engine/campaign/calendar.hpp"

#include <doctest/doctest.h>

using namespace std::chrono;
using pigeon::engine::campaign::civil_day;

namespace {
civil_day day_of(const char* text) { return *pigeon::engine::campaign::parse_day_text(text); }
}  // namespace

TEST_CASE("a 29 February anniversary falls on 28 February in a common year and on 29 in a leap") {
  auto born = day_of("1992-02-29");
  CHECK(pigeon::engine::campaign::anniversary_in(born, year{2027}) == day_of("2027-02-28"));
  CHECK(pigeon::engine::campaign::anniversary_in(born, year{2028}) == day_of("2028-02-29"));
}

TEST_CASE("a monthly day of the 31st falls on a shorter month's last day") {
  auto d = day_of("2026-01-31");
  CHECK(pigeon::engine::campaign::monthly_in(d, year{2026} / February) == day_of("2026-02-28"));
  CHECK(pigeon::engine::campaign::monthly_in(d, year{2026} / April) == day_of("2026-04-30"));
  CHECK(pigeon::engine::campaign::monthly_in(d, year{2026} / May) == day_of("2026-05-31"));
}

TEST_CASE("whole months count a month complete on the same day or a shorter month's last day") {
  CHECK(pigeon::engine::campaign::whole_months(day_of("2026-01-31"), day_of("2026-02-28")) == 1);
  CHECK(pigeon::engine::campaign::whole_months(day_of("2026-01-31"), day_of("2026-02-27")) == 0);
  CHECK(pigeon::engine::campaign::whole_months(day_of("2026-03-14"), day_of("2027-03-13")) == 11);
  CHECK(pigeon::engine::campaign::whole_months(day_of("2026-03-14"), day_of("2027-03-14")) == 12);
  // 29 Feb to 28 Feb of a common year is a whole year.
  CHECK(pigeon::engine::campaign::whole_months(day_of("1992-02-29"), day_of("2027-02-28")) / 12 ==
        35);
}

TEST_CASE("a date written without a time is that calendar day in every zone") {
  auto d = pigeon::engine::campaign::attribute_day("1990-03-14T00:00:00.000Z", "America/New_York");
  REQUIRE(d);
  CHECK(*d == day_of("1990-03-14"));
  // A time of day is read in the recipient's zone: 02:00Z is the evening before in New York.
  auto t = pigeon::engine::campaign::attribute_day("2026-03-14T02:00:00.000Z", "America/New_York");
  REQUIRE(t);
  CHECK(*t == day_of("2026-03-13"));
  CHECK_FALSE(pigeon::engine::campaign::attribute_day("not a date", "UTC"));
}

TEST_CASE("a day that does not exist does not parse") {
  CHECK_FALSE(pigeon::engine::campaign::parse_day_text("2027-02-29"));
  CHECK(pigeon::engine::campaign::parse_day_text("2028-02-29"));
}

TEST_CASE("parse_iso reads a date, a time with Z or an offset, and refuses anything else") {
  using pigeon::engine::format_iso;
  using pigeon::engine::parse_iso;
  CHECK(format_iso(*parse_iso("2026-11-11")) == "2026-11-11T00:00:00.000Z");
  CHECK(format_iso(*parse_iso("2026-11-11T10:00:00Z")) == "2026-11-11T10:00:00.000Z");
  CHECK(format_iso(*parse_iso("2026-11-11T10:00:00.123Z")) == "2026-11-11T10:00:00.123Z");
  CHECK(format_iso(*parse_iso("2026-11-11T10:00:00+08:00")) == "2026-11-11T02:00:00.000Z");
  CHECK(format_iso(*parse_iso("2026-11-11T10:00:00-0500")) == "2026-11-11T15:00:00.000Z");
  CHECK(format_iso(*parse_iso("2026-11-11 10:00:00+08:00")) == "2026-11-11T02:00:00.000Z");
  CHECK(format_iso(*parse_iso("2026-11-11T10:00Z")) == "2026-11-11T10:00:00.000Z");
  CHECK(format_iso(*parse_iso("2026-11-11T10:00+08:00")) == "2026-11-11T02:00:00.000Z");
  for (const char* bad :
       {"", "2026-11-1", "2026-13-01", "2026-02-30", "11/11/2026", "2026-11-11T10Z",
        "2026-11-11T10:00:00", "2026-11-11T10:00:00+8", "2026-11-11T10:00:00Zjunk", "soon"})
    CHECK_MESSAGE(!parse_iso(bad), bad);
}
