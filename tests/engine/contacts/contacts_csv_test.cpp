#include "engine/contacts/contacts_csv.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "engine/model/phone.hpp"

using namespace pigeon::engine;
using namespace pigeon::engine::contacts;

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
  CHECK(mask_phone("erased:17") == "erased:17");
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

TEST_CASE("nan, inf and Infinity cells are text and a number JSON cannot hold is refused") {
  auto r = read_contacts_csv(std::string_view("phone,first_name,a,b,c,score\n"
                                              "+8613910008411,Nan,inf,Infinity,-1e3,7\n"
                                              "+8613910008412,Bo,x,y,z,1e999\n"),
                             "");
  REQUIRE(r.contacts.size() == 1);
  const auto& a = r.contacts[0].attributes;
  CHECK(a.at("first_name").as_string() == "Nan");
  CHECK(a.at("a").as_string() == "inf");
  CHECK(a.at("b").as_string() == "Infinity");
  CHECK(a.at("c").as_double() == -1000.0);
  CHECK(a.at("score").as_int64() == 7);
  REQUIRE(r.rejected.size() == 1);
  CHECK(r.rejected[0].line == 3);
  CHECK(r.rejected[0].reason.find("score `1e999` is too large for a number") == 0);
}

TEST_CASE("a row with invalid UTF-8 is rejected with its line and byte offset") {
  // "王" in GBK is CD F5: not UTF-8, at byte offset 32 of the file.
  std::string text = "phone,first_name\n+8613910008411,\xCD\xF5\n+8613910008412,李\n";
  auto r = read_contacts_csv(std::string_view(text), "");
  REQUIRE(r.contacts.size() == 1);
  CHECK(r.contacts[0].phone == "+8613910008412");
  REQUIRE(r.rejected.size() == 1);
  CHECK(r.rejected[0].line == 2);
  CHECK(r.rejected[0].byte == std::optional<std::size_t>(32));
  CHECK(r.rejected[0].reason.find("invalid UTF-8 at byte offset 32 (line 2)") == 0);
  CHECK(r.rejected[0].reason.find("--encoding GB18030") != std::string::npos);
  auto header = read_contacts_csv(std::string_view("phone,\xE5\x90\n"), "");
  CHECK(header.fatal.find("line 1: invalid UTF-8 at byte offset 6") == 0);
}

TEST_CASE("GB18030 text converts to UTF-8 and bytes invalid in it are named by offset") {
  std::string error;
  auto utf8 = to_utf8("phone,name\n+8613910008411,\xCD\xF5\n", "GB18030", error);
  REQUIRE(utf8);
  CHECK(*utf8 == "phone,name\n+8613910008411,王\n");
  CHECK(!to_utf8("ok\n\xFF", "GB18030", error));
  CHECK(error.find("at byte offset 3 (line 2)") != std::string::npos);
  CHECK(!to_utf8("x", "NO-SUCH-ENCODING", error));
  CHECK(error.find("unknown encoding `NO-SUCH-ENCODING`") == 0);
}

TEST_CASE("an unclosed quote rejects only its own line and the lines after it are rows") {
  std::string text =
      "phone,name,city\n"
      "+8613910008411,\"Ann,shanghai\n"  // never closed
      "+8613910008412,Bob,beijing\n"
      "+8613910008413,\"Cy\",suzhou\n"
      "+8613910008414,Di,hangzhou\n";
  auto r = read_contacts_csv(std::string_view(text), "");
  CHECK(r.rows == 4);
  REQUIRE(r.rejected.size() == 1);
  CHECK(r.rejected[0].line == 2);
  CHECK(r.rejected[0].reason.find("only this line is rejected") != std::string::npos);
  REQUIRE(r.contacts.size() == 3);
  CHECK(r.contacts[0].attributes.at("name").as_string() == "Bob");
  CHECK(r.contacts[1].attributes.at("name").as_string() == "Cy");
  CHECK(r.contacts[2].phone == "+8613910008414");
  // A quote that closes on a later line with a plausible row in between: still caught.
  auto swallowed = read_contacts_csv(std::string_view("phone,name,city\n"
                                                      "+8613910008411,\"Ann,x\n"
                                                      "+8613910008412,Bob,y\n"
                                                      "+8613910008413,Cy\",z\n"),
                                     "");
  CHECK(swallowed.rows == 3);
  CHECK(swallowed.contacts.size() == 1);  // Bob; the line of Cy has text after a closing quote
  CHECK(swallowed.rejected.size() == 2);
}

TEST_CASE("fixed-line numbers and national numbers in another country's zone are refused") {
  auto cn_us = normalize_recipient("415-555-0102", "CN", "America/New_York");
  CHECK(cn_us.e164.empty());
  CHECK(cn_us.error.find("default_region CN") != std::string::npos);
  auto cn_uk = normalize_recipient("07700 900125", "CN", "");
  CHECK(cn_uk.e164.empty());
  CHECK(cn_uk.error.find("a fixed-line") == 0);
  CHECK(normalize_recipient("139-1000-8411", "CN", "America/New_York")
            .error.find("tz America/New_York is not a time zone of CN") == 0);
  CHECK(normalize_recipient("139-1000-8411", "CN", "Asia/Chongqing").e164 == "+8613910008411");
  CHECK(normalize_recipient("139-1000-8411", "CN", "UTC").e164 == "+8613910008411");
  // Written with a country code: any zone is kept (a Chinese mobile used in New York).
  CHECK(normalize_recipient("+8613910008411", "CN", "America/New_York").e164 == "+8613910008411");
  // +1 numbers are FIXED_LINE_OR_MOBILE: kept.
  CHECK(normalize_recipient("415-555-0102", "US", "America/New_York").e164 == "+14155550102");
  CHECK(normalize_recipient("+442079460000", "", "").error.find("a fixed-line") == 0);
}

TEST_CASE("an apostrophe marks text that would read as something else, and only that") {
  std::istringstream in(
      "phone,zip,flag,empty,padded,tis,twice\n"
      "+8613910008411,'00123,'true,',\"' padded \",'tis,''1\n");
  auto r = read_contacts_csv(in, "");
  REQUIRE(r.contacts.size() == 1);
  const auto& a = r.contacts[0].attributes;
  CHECK(a.at("zip") == boost::json::value("00123"));
  CHECK(a.at("flag") == boost::json::value("true"));
  CHECK(a.at("empty") == boost::json::value(""));
  CHECK(a.at("padded") == boost::json::value(" padded "));
  CHECK(a.at("tis") == boost::json::value("'tis"));  // a plain text keeps its apostrophe
  CHECK(a.at("twice") == boost::json::value("'1"));
}

TEST_CASE("an exported row reads back as the same contact, types included") {
  contact c;
  c.phone = "+8613910008411";
  c.tags = {"member", "coffee, lover", "say \"hi\""};
  c.tz = "Asia/Shanghai";
  c.attributes = {
      {"int", 42},         {"neg", -7},           {"dec", 2.5},
      {"whole", 3.0},      {"tiny", 1e-300},      {"huge", 1e300},
      {"negzero", -0.0},   {"yes", true},         {"no", false},
      {"zip", "00123"},    {"word", "true"},      {"empty", ""},
      {"padded", " x "},   {"apos", "'1"},        {"tis", "'tis"},
      {"lines", "a\r\nb"}, {"cjk", "王芳, 你好"}, {"seen_at", "2026-11-01T00:00:00.000Z"}};
  std::vector<std::string> names;
  for (const auto& [k, v] : c.attributes) names.emplace_back(k);
  names.emplace_back("absent");
  std::sort(names.begin(), names.end());
  CHECK(contact_csv_problem(c).empty());
  std::string text = contacts_csv_header(names);
  append_contact_csv_row(text, c, names);
  auto r = read_contacts_csv(std::string_view(text), "");
  REQUIRE(r.rejected.empty());
  REQUIRE(r.contacts.size() == 1);
  const auto& back = r.contacts[0];
  CHECK(back.phone == c.phone);
  CHECK(back.tags == c.tags);
  CHECK(back.tz == c.tz);
  CHECK(back.attributes.size() == c.attributes.size());
  for (const auto& [k, v] : c.attributes) {
    INFO(std::string(k));
    REQUIRE(back.attributes.contains(k));
    CHECK(back.attributes.at(k).kind() == v.kind());
    CHECK(back.attributes.at(k) == v);
  }
  CHECK(std::signbit(back.attributes.at("negzero").as_double()));
  std::string again = contacts_csv_header(names);
  append_contact_csv_row(again, back, names);
  CHECK(again == text);
}

TEST_CASE("what the contacts CSV cannot carry is named, not silently changed") {
  contact c;
  c.phone = "+8613910008411";
  c.tags = {"a;b"};
  CHECK(contact_csv_problem(c).find("tag `a;b`") != std::string::npos);
  c.tags = {"x", "x"};
  CHECK(contact_csv_problem(c).find("twice") != std::string::npos);
  c.tags = {};
  c.attributes = {{"tz", "x"}};
  CHECK(contact_csv_problem(c).find("attribute `tz`") != std::string::npos);
  c.attributes = {{"seen_at", "yesterday"}};
  CHECK(contact_csv_problem(c).find("seen_at") != std::string::npos);
  c.attributes = {{"seen_at", "2026-11-01"}};  // ISO, but an import stores it as a time
  CHECK(!contact_csv_problem(c).empty());
}
