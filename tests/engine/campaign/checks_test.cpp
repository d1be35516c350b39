#include "engine/campaign/checks.hpp"

#include <doctest/doctest.h>

#include "engine/campaign/audience.hpp"

using namespace pigeon;
using namespace pigeon::engine;
using namespace pigeon::engine::campaign;

namespace {

attribute_catalog catalog_of(std::initializer_list<const char*> names) {
  attribute_catalog catalog;
  contact c;
  for (const char* n : names) c.attributes[n] = "x";
  catalog.add(c);
  return catalog;
}

config::campaign_config one_step(std::string at, std::string text) {
  config::campaign_config c;
  c.path = "c.yaml";
  c.where = {"c.yaml", 1, 1};
  config::step_config s;
  s.id = "hello";
  s.at = std::move(at);
  s.at_where = {"c.yaml", 7, 9};
  s.kind = "sms";
  s.variants.push_back({"A", 100, std::move(text), {}, {}, {"c.yaml", 9, 17}});
  c.steps.push_back(std::move(s));
  return c;
}

}  // namespace

TEST_CASE("an expression lists the attribute names it reads, through the tiers it names") {
  audience_expr::tier_map tiers;
  tiers.emplace("active", audience_expr::compile("last_active_days <= 30 and visits > 2"));
  auto e = audience_expr::compile("city = x and tier = active and tags = vip", &tiers);
  auto names = e.names();
  REQUIRE(names.size() == 3);
  CHECK(names[0].name == "city");
  CHECK(names[0].column == 1);
  CHECK(names[0].tier.empty());
  CHECK(names[1].name == "last_active_days");
  CHECK(names[1].tier == "active");
  CHECK(names[1].column == 21);  // of `active` in the where entry
  CHECK(names[2].name == "visits");
}

TEST_CASE("a close known name is suggested, a far one is not") {
  CHECK(closest_name("lastt_active_days", {"first_name", "last_active_days"}) ==
        "last_active_days");
  CHECK(closest_name("frist_name", {"first_name"}) == "first_name");  // a swap is one edit
  CHECK(closest_name("coupon", {"first_name", "city"}).empty());
}

TEST_CASE("a name no stored contact has is an error at its place with a did-you-mean") {
  auto campaign = one_step("now", "Hi {{frist_name}}, {{nick|friend}} {{phone}}");
  campaign.audience.where = {"lastt_active_days < 30", "last_active_days >= 0"};
  campaign.audience.where_locations = {{"c.yaml", 5, 11}, {"c.yaml", 6, 11}};
  auto catalog = catalog_of({"first_name", "last_active_at"});
  auto issues = attribute_name_issues(campaign, config::engine_config{}, catalog);
  REQUIRE(issues.size() == 2);
  CHECK(issues[0].is_error());
  CHECK(issues[0].where.line == 5);
  CHECK(issues[0].where.column == 12);
  CHECK(issues[0].message.find("did you mean last_active_days?") != std::string::npos);
  CHECK(issues[1].where.line == 9);
  CHECK(issues[1].where.column == 17 + 4);  // `{{` of the tag, after "Hi "
  CHECK(issues[1].message.find("did you mean first_name?") != std::string::npos);
}

TEST_CASE("with no stored contacts the names are not checked, and a warning says so") {
  auto campaign = one_step("now", "Hi {{first_name}}");
  auto issues = attribute_name_issues(campaign, config::engine_config{}, attribute_catalog{});
  REQUIRE(issues.size() == 1);
  CHECK_FALSE(issues[0].is_error());
  CHECK(issues[0].to_string().starts_with("c.yaml:1:1: warning: attribute names not checked"));
}

TEST_CASE("a step timed outside its own window is a warning; one inside is not") {
  auto campaign = one_step("0d 09:00", "hi");
  campaign.anchor = "2030-01-10";
  campaign.steps[0].window = config::window_config{{}, "10:30-11:00", {"c.yaml", 8, 13}};
  auto issues = window_warnings(campaign);
  REQUIRE(issues.size() == 1);
  CHECK(issues[0].level == config::severity::warning);
  CHECK(issues[0].where.line == 7);
  CHECK(issues[0].message.find("outside its window (10:30-11:00") != std::string::npos);
  campaign.steps[0].at = "0d 10:45";
  CHECK(window_warnings(campaign).empty());
  // 2030-01-10 is a Thursday: a window on weekends only leaves it out.
  campaign.steps[0].window->days = {"sat", "sun"};
  CHECK(window_warnings(campaign).size() == 1);
}

TEST_CASE("an empty audience is a warning only when contacts are stored") {
  auto campaign = one_step("now", "hi");
  CHECK(empty_audience_warnings(campaign, 0, 0).empty());
  CHECK(empty_audience_warnings(campaign, 5, 2).empty());
  auto issues = empty_audience_warnings(campaign, 5, 0);
  REQUIRE(issues.size() == 1);
  CHECK_FALSE(issues[0].is_error());
}
