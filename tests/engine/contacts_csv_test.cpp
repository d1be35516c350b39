#include "engine/contacts_csv.hpp"

#include <doctest/doctest.h>

#include <sstream>

#include "engine/phone.hpp"

using namespace pigeon::engine;

TEST_CASE("phone numbers in national or international format are stored as E.164") {
  CHECK(normalize_phone("+86 139 1000 8411", "").e164 == "+8613910008411");
  CHECK(normalize_phone("139-1000-8411", "CN").e164 == "+8613910008411");
  CHECK(normalize_phone("(202) 456-1111", "US").e164 == "+12024561111");
  auto no_region = normalize_phone("13910008411", "");
  CHECK(no_region.e164.empty());
  CHECK(no_region.error.find("default_region") != std::string::npos);
  CHECK(normalize_phone("hello", "CN").e164.empty());
  CHECK(normalize_phone("+86 139", "").e164.empty());
}

TEST_CASE("masked phone numbers keep the country code and the last two digits") {
  CHECK(mask_phone("+8613910008411") == "+86*********11");
  CHECK(mask_phone("+12024561111") == "+12*******11");
}

TEST_CASE("a contacts CSV yields typed attributes, tags and time zones") {
  std::istringstream in(
      "phone,first_name,tags,visits,spend,vip,last_purchase_at,tz\n"
      "+8613910008411,王芳,member; coffee-lover ;;member,12,35.5,true,2026-11-01,Asia/Shanghai\n");
  auto r = read_contacts_csv(in, "");
  REQUIRE(r.fatal.empty());
  REQUIRE(r.contacts.size() == 1);
  const auto& c = r.contacts[0];
  CHECK(c.phone == "+8613910008411");
  CHECK(c.tags == std::vector<std::string>{"member", "coffee-lover"});
  CHECK(c.tz == "Asia/Shanghai");
  CHECK(c.attributes.at("first_name").as_string() == "王芳");
  CHECK(c.attributes.at("visits").as_int64() == 12);
  CHECK(c.attributes.at("spend").as_double() == doctest::Approx(35.5));
  CHECK(c.attributes.at("vip").as_bool());
  CHECK(c.attributes.at("last_purchase_at").as_string() == "2026-11-01T00:00:00.000Z");
}

TEST_CASE("bad CSV rows are reported with their line and good rows are kept") {
  std::istringstream in(
      "phone,name,tags,tz,seen_at\n"
      "+8613910008411,A,,,\n"
      "12,B,,,\n"
      "+8613910008413,\"C, with \"\"quotes\"\"\nand a newline\",,,\n"
      "+8613910008414,D,,Mars/Olympus,\n"
      "+8613910008415,E,,,yesterday\n"
      "+8613910008416,F\n"
      "+8613910008417,G,,,2026-01-02T03:04:05+08:00\n");
  auto r = read_contacts_csv(in, "");
  REQUIRE(r.fatal.empty());
  CHECK(r.rows == 7);
  REQUIRE(r.contacts.size() == 3);
  CHECK(r.contacts[1].attributes.at("name").as_string() == "C, with \"quotes\"\nand a newline");
  REQUIRE(r.rejected.size() == 4);
  CHECK(r.rejected[0].line == 3);
  CHECK(r.rejected[0].reason.find("phone `12`") == 0);
  CHECK(r.rejected[1].line == 6);  // the quoted newline made line 4 two lines long
  CHECK(r.rejected[1].reason.find("Mars/Olympus") != std::string::npos);
  CHECK(r.rejected[2].line == 7);
  CHECK(r.rejected[2].reason.find("seen_at") == 0);
  CHECK(r.rejected[3].line == 8);
  CHECK(r.rejected[3].reason == "expected 5 fields, found 2");
  CHECK(r.contacts[2].attributes.at("seen_at").as_string() == "2026-01-01T19:04:05.000Z");
}

TEST_CASE("a CSV without a phone column is refused as a whole") {
  std::istringstream in("name,tags\nA,member\n");
  auto r = read_contacts_csv(in, "");
  CHECK(r.fatal == "line 1: no `phone` column in the header");
  CHECK(r.contacts.empty());
}
