// Time zones inferred from phone numbers (libphonenumber's region, the tz database's zones).
#include "engine/model/phone.hpp"

#include <doctest/doctest.h>

using namespace pigeon::engine;

TEST_CASE("a number from a region with one time zone gives that zone") {
  CHECK(phone_timezone("+442079460000") == "Europe/London");  // GB
  CHECK(phone_timezone("+81312345678") == "Asia/Tokyo");      // JP
  CHECK(phone_timezone("+33142685300") == "Europe/Paris");    // FR
  // China keeps one legal time (documented exception: zone.tab also lists Asia/Urumqi).
  CHECK(phone_timezone("+8613800138000") == "Asia/Shanghai");
}

TEST_CASE("a calling code shared by regions is resolved per number") {
  // +44 is GB, Jersey, Guernsey and the Isle of Man; +1 is the US, Canada, Jamaica, ...
  CHECK(phone_timezone("+441534123456") == "Europe/Jersey");
  CHECK(phone_timezone("+18765551234") == "America/Jamaica");
}

TEST_CASE("a number from a region with several time zones tells nothing") {
  CHECK(phone_timezone("+12125550100").empty());  // US
  CHECK(phone_timezone("+74951234567").empty());  // RU
  CHECK(phone_timezone("+61212345678").empty());  // AU
  CHECK(phone_timezone("").empty());
  CHECK(phone_timezone("13800138000").empty());  // not E.164
}

TEST_CASE("a recipient's zone is their own tz, else their number's, else the default") {
  CHECK(recipient_timezone("Asia/Tokyo", "+442079460000", "UTC") == "Asia/Tokyo");
  CHECK(recipient_timezone("", "+442079460000", "UTC") == "Europe/London");
  CHECK(recipient_timezone("", "+12125550100", "Asia/Shanghai") == "Asia/Shanghai");
}
