#include "engine/campaign/audience.hpp"

#include <doctest/doctest.h>

#include <map>
#include <string>

using namespace pigeon::engine;
using namespace pigeon::engine::campaign;

namespace {

const time_point now = *parse_iso("2026-11-11T12:00:00.000Z");

contact sample() {
  contact c;
  c.id = 1;
  c.phone = "+8613910008411";
  c.tags = {"member", "coffee-lover"};
  c.tz = "Asia/Shanghai";
  c.attributes["city"] = "shanghai";
  c.attributes["visits"] = 12;
  c.attributes["spend"] = 35.5;
  c.attributes["vip"] = true;
  c.attributes["name"] = "Wang Fang";
  c.attributes["last_purchase_at"] = "2026-11-01T00:00:00.000Z";  // 10.5 days before now
  c.attributes["last_active_at"] = "2026-11-10T18:00:00.000Z";    // 0.75 days before now
  return c;
}

bool eval(std::string_view text, const contact& c = sample()) {
  return audience_expr::compile(text).matches(c, now);
}

// The 1-based column of the compile error, 0 when it compiled.
int error_column(std::string_view text, const audience_expr::tier_map* tiers = nullptr) {
  try {
    audience_expr::compile(text, tiers);
  } catch (const audience_expr_error& e) {
    return e.column();
  }
  return 0;
}

std::string error_message(std::string_view text) {
  try {
    audience_expr::compile(text);
  } catch (const audience_expr_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("each comparison operator compares numbers numerically") {
  CHECK(eval("visits = 12"));
  CHECK_FALSE(eval("visits = 13"));
  CHECK(eval("visits != 13"));
  CHECK_FALSE(eval("visits != 12"));
  CHECK(eval("visits < 13"));
  CHECK_FALSE(eval("visits < 12"));
  CHECK(eval("visits <= 12"));
  CHECK_FALSE(eval("visits <= 11"));
  CHECK(eval("visits > 11"));
  CHECK_FALSE(eval("visits > 12"));
  CHECK(eval("visits >= 12"));
  CHECK_FALSE(eval("visits >= 12.5"));
  CHECK(eval("spend > 35"));
  CHECK(eval("spend = 35.5"));
  CHECK(eval("spend < 36"));
  CHECK(eval("visits = 12.0"));
  CHECK(eval("visits > -1"));
  CHECK(eval("visits>=12"));
}

TEST_CASE("strings compare case-sensitively and booleans by equality") {
  CHECK(eval("city = shanghai"));
  CHECK_FALSE(eval("city = Shanghai"));
  CHECK(eval("city != Shanghai"));
  CHECK(eval("name = 'Wang Fang'"));
  CHECK(eval("name = \"Wang Fang\""));
  CHECK(eval("city < 'tianjin'"));
  CHECK_FALSE(eval("city > 'tianjin'"));
  CHECK(eval("vip = true"));
  CHECK_FALSE(eval("vip = false"));
  CHECK(eval("vip != false"));
}

TEST_CASE("a days name is whole days since the matching at attribute, floored") {
  CHECK(eval("last_purchase_days = 10"));
  CHECK(eval("last_active_days = 0"));
  CHECK(eval("last_purchase_days <= 180"));
  CHECK_FALSE(eval("last_active_days > 90"));
  CHECK(eval("last_purchase_days >= 10.5") == false);
  auto c = sample();
  c.attributes["last_active_at"] = "2026-05-01T00:00:00.000Z";
  CHECK(eval("last_active_days > 90", c));
  c.attributes["last_active_at"] = "2026-11-11T08:00:00+08:00";  // other ISO forms parse too
  CHECK(eval("last_active_days = 0", c));
  c.attributes["last_active_at"] = "2026-11-12T12:00:00.000Z";  // the future: negative
  CHECK(eval("last_active_days = -1", c));
  c.attributes["last_active_at"] = "not a time";
  CHECK_FALSE(eval("last_active_days >= 0", c));
  CHECK(eval("last_active_days != 0", c));
  c.attributes.erase("last_active_at");
  c.attributes["last_active_days"] = 7;  // no _at: a literal _days attribute is used
  CHECK(eval("last_active_days = 7", c));
}

TEST_CASE("a date compares with the UTC day of a time attribute") {
  CHECK(eval("last_purchase_at = 2026-11-01"));
  CHECK(eval("last_purchase_at < 2026-11-02"));
  CHECK(eval("last_purchase_at >= 2026-11-01"));
  CHECK_FALSE(eval("last_purchase_at < 2026-11-01"));
  CHECK(eval("last_active_at in [2026-11-09, 2026-11-10]"));
}

TEST_CASE("in lists take words, quoted strings and numbers") {
  CHECK(eval("city in [shanghai, hangzhou]"));
  CHECK_FALSE(eval("city in [beijing, hangzhou]"));
  CHECK(eval("city not in [beijing, hangzhou]"));
  CHECK_FALSE(eval("city not in [shanghai]"));
  CHECK(eval("name in ['Li Lei', \"Wang Fang\"]"));
  CHECK(eval("visits in [1, 12, 3.5]"));
  CHECK_FALSE(eval("visits in []"));
  CHECK(eval("visits not in []"));
  CHECK(eval("tz in [Asia/Shanghai, Asia/Tokyo]"));
  CHECK(eval("phone = +8613910008411"));
}

TEST_CASE("tags in is true when any tag matches") {
  CHECK(eval("tags in [vip, coffee-lover]"));
  CHECK_FALSE(eval("tags in [vip, staff]"));
  CHECK(eval("tags not in [vip, staff]"));
  CHECK_FALSE(eval("tags not in [member]"));
  CHECK(eval("tags = member"));
  CHECK(eval("tags != staff"));
  CHECK(eval("tags exists"));
  auto c = sample();
  c.tags.clear();
  CHECK_FALSE(eval("tags exists", c));
  CHECK_FALSE(eval("tags in [member]", c));
}

TEST_CASE("a tier reference evaluates the tier's expression") {
  audience_expr::tier_map tiers;
  tiers.emplace("active", audience_expr::compile("last_active_days <= 30"));
  tiers.emplace("dormant", audience_expr::compile("last_active_days > 90"));
  auto active = audience_expr::compile("tier = active", &tiers);
  auto either = audience_expr::compile("tier in [active, dormant]", &tiers);
  auto not_dormant = audience_expr::compile("tier != dormant", &tiers);
  auto c = sample();
  CHECK(active.matches(c, now));
  CHECK(either.matches(c, now));
  CHECK(not_dormant.matches(c, now));
  c.attributes["last_active_at"] = "2026-09-01T00:00:00.000Z";  // 71 days: neither
  CHECK_FALSE(active.matches(c, now));
  CHECK_FALSE(either.matches(c, now));
  c.attributes["last_active_at"] = "2026-01-01T00:00:00.000Z";
  CHECK(either.matches(c, now));
  CHECK_FALSE(not_dormant.matches(c, now));
  CHECK(active.text() == "tier = active");
  CHECK(error_column("tier = lapsed", &tiers) == 8);
  CHECK(error_column("tier in [active, lapsed]", &tiers) == 18);
  CHECK(error_column("tier = active") == 8);  // no tier map at all
  CHECK(error_column("tier < active", &tiers) == 6);
  CHECK(error_column("tier exists", &tiers) == 6);
}

TEST_CASE("a missing attribute makes comparisons false except != and not in") {
  auto c = sample();
  for (const char* text : {"age = 3", "age < 3", "age <= 3", "age > 3", "age >= 3", "age in [3, 4]",
                           "age exists", "gone_days <= 30", "gone_days > 30"})
    CHECK_MESSAGE(!eval(text, c), text);
  for (const char* text : {"age != 3", "age not in [3]", "not age exists", "gone_days != 30"})
    CHECK_MESSAGE(eval(text, c), text);
  c.tz.clear();
  CHECK_FALSE(eval("tz = Asia/Shanghai", c));
  CHECK_FALSE(eval("tz exists", c));
}

TEST_CASE("a value of another type than the attribute compares false, not an error") {
  CHECK_FALSE(eval("city = 12"));
  CHECK_FALSE(eval("city > 12"));
  CHECK(eval("city != 12"));
  CHECK_FALSE(eval("visits = '12'"));
  CHECK_FALSE(eval("vip = 'true'"));
  CHECK_FALSE(eval("city = true"));
  CHECK_FALSE(eval("city < 2026-01-01"));
}

TEST_CASE("and, or, not and parentheses combine conditions") {
  CHECK(eval("city = shanghai and visits > 10"));
  CHECK_FALSE(eval("city = shanghai and visits > 20"));
  CHECK(eval("city = beijing or visits > 10"));
  CHECK(eval("not city = beijing"));
  CHECK_FALSE(eval("not (city = shanghai or vip = false)"));
  CHECK(eval("city = beijing and visits > 100 or vip = true"));  // and binds tighter
  CHECK_FALSE(eval("city = beijing and (visits > 100 or vip = true)"));
}

TEST_CASE("compile errors carry the column of the offending text") {
  CHECK(error_column("city == shanghai") == 6);
  CHECK(error_message("city == shanghai").find("unknown operator `==`") == 0);
  CHECK(error_column("city ~ shanghai") == 6);
  CHECK(error_column("city") == 5);
  CHECK(error_column("city = 'shanghai") == 8);
  CHECK(error_message("city = 'shanghai") == "unterminated quote");
  CHECK(error_column("city in [shanghai, hangzhou") == 9);
  CHECK(error_message("city in [a,") == "unterminated list");
  CHECK(error_column("city in [a b]") == 12);
  CHECK(error_column("city in shanghai") == 9);
  CHECK(error_column("city =") == 7);
  CHECK(error_message("city =") == "missing value");
  CHECK(error_column("city in [a, ]") == 13);
  CHECK(error_column("city = [a]") == 8);
  CHECK(error_column("visits < shanghai") == 10);
  CHECK(error_message("visits < shanghai").find("type mismatch") == 0);
  CHECK(error_column("vip >= true") == 8);
  CHECK(error_column("last_active_days <= thirty") == 21);
  CHECK(error_column("last_active_days in [1, x]") == 25);
  CHECK(error_column("last_active_at > 30") == 18);
  CHECK(error_column("tags > vip") == 6);
  CHECK(error_column("city = shanghai hangzhou") == 17);
  CHECK(error_column("city = shanghai)") == 16);
  CHECK(error_column("(city = shanghai") == 1);
  CHECK(error_column("") == 1);
  CHECK(error_column("city = a and") == 13);
  CHECK(error_column("9city = a") == 1);
  CHECK(error_column("city not shanghai") == 10);
  CHECK(error_column("city = a ; b") == 10);
  CHECK(error_column("x = '上海' y") == 10);  // columns count code points, not bytes
  CHECK(error_column("city = 上海 x") == 11);
}

TEST_CASE("the design examples compile and select as described") {
  auto c = sample();
  auto purchase = audience_expr::compile("last_purchase_days <= 180");
  auto city = audience_expr::compile("city in [shanghai, hangzhou]");
  auto dormant = audience_expr::compile("last_active_days > 90");
  CHECK(purchase.matches(c, now));
  CHECK(city.matches(c, now));
  CHECK_FALSE(dormant.matches(c, now));
  c.attributes["city"] = "beijing";
  c.attributes["last_purchase_at"] = "2025-11-01T00:00:00.000Z";
  CHECK_FALSE(purchase.matches(c, now));
  CHECK_FALSE(city.matches(c, now));
  auto copy = city;  // copies share the compiled form
  CHECK(copy.text() == "city in [shanghai, hangzhou]");
}

TEST_CASE("number-like words stay words unless they are whole numbers") {
  auto c = sample();
  c.attributes["code"] = "12a";
  c.attributes["big"] = 1e20;
  CHECK(eval("code = 12a", c));
  CHECK(eval("big > 99999999999999999999", c) == false);
  CHECK(eval("big >= 99999999999999999999", c));
  CHECK(error_column("visits < 1.") == 10);
  CHECK(eval("spend in [-1, 35.50]"));
}

TEST_CASE("next_change says when a condition may change with time alone, and nothing else") {
  auto c = sample();  // last purchase 10.5 days before now
  auto dormant = audience_expr::compile("last_purchase_days >= 90");
  CHECK(dormant.next_change(c, now) == *parse_iso("2027-01-30T00:00:00.000Z"));  // + 90 days
  // Just before that instant the condition is false, at it true: nothing is missed.
  CHECK_FALSE(dormant.matches(c, *parse_iso("2027-01-29T23:59:59.000Z")));
  CHECK(dormant.matches(c, *parse_iso("2027-01-30T00:00:00.000Z")));
  // No time in the expression (or a literal `_days` attribute): never by time.
  CHECK_FALSE(audience_expr::compile("city = shanghai").next_change(c, now));
  auto literal = c;
  literal.attributes.erase("last_purchase_at");
  literal.attributes["last_purchase_days"] = 3;
  CHECK_FALSE(dormant.next_change(literal, now));
  // Through a tier, and the earliest of several.
  audience_expr::tier_map tiers{{"active", audience_expr::compile("last_active_days <= 30")}};
  auto either = audience_expr::compile("tier = active or last_purchase_days >= 90", &tiers);
  CHECK(either.next_change(c, now) == *parse_iso("2026-12-10T18:00:00.000Z"));  // active + 30
  // Whole months go up on the month day: 1 Nov -> 1 Dec.
  CHECK(audience_expr::compile("last_purchase_months >= 2").next_change(c, now) ==
        *parse_iso("2026-12-01T00:00:00.000Z"));
}
