// campaign plan: the forecast against stored contacts and the ledger, without writing.
#include <doctest/doctest.h>

#include "engine/campaign/forecast.hpp"
#include "engine/store/sqlite/sqlite_store.hpp"
#include "tests/store/backends.hpp"
#include "tests/store/fixture.hpp"

using namespace pigeon;
using namespace pigeon::engine;
using namespace pigeon::engine::campaign;
using pigeon::engine::test::temp_dir;

namespace {

config::engine_config plan_engine() {
  return config::parse_engine_config(R"(
default_timezone: Asia/Shanghai
policy:
  quiet_hours: "21:00-08:00"
  tiers: { active: "last_active_days <= 30" }
  frequency:
    - { tier: active, max: 1, per: 7d }
senders:
  shop: { route: [main] }
providers:
  main: { kind: simulator }
)",
                                     "engine.yaml");
}

contact person(const std::string& phone, const std::string& tz, int last_active_days) {
  contact c;
  c.phone = phone;
  c.tags = {"member"};
  c.tz = tz;
  c.attributes["last_active_days"] = last_active_days;
  return c;
}

}  // namespace

STORE_TEST_CASE("plan forecasts sends per local day, deferrals for quiet hours and cap expiries") {
  store_backend backend;
  store* db = backend.open();
  db->upsert_contacts({person("+8613800000001", "Asia/Shanghai", 5),
                       person("+8613800000002", "Asia/Shanghai", 60),
                       person("+12025550100", "America/New_York", 60)});
  auto campaign = config::parse_campaign(R"(campaign: p
sender: shop
anchor: 2030-01-10
audience: { all_tags: [member] }
steps:
  - { id: one, at: "0d 07:00", sms: { text: hi } }
  - { id: two, at: "+1d 12:00", sms: { text: hi } }
)",
                                         "p.yaml");
  auto r = plan_campaign(campaign, plan_engine(), *db, *parse_iso("2030-01-09T00:00:00Z"), 4);
  CHECK(r.recipients == 3);
  // Step one at 07:00 local is in quiet hours: deferred to 08:00, sent that day. Step two goes
  // for everyone but the active recipient, whose 1-per-7d cap is used up (expired that day).
  CHECK(r.sends == 5);
  CHECK(r.deferrals == 3);  // quiet hours; the capped message expires at once (slot frees later)
  CHECK(r.suppressions == 1);
  REQUIRE(r.buckets.size() == 3);  // New York's 01-11 12:00 is 01-12 in Shanghai
  CHECK(r.buckets[0].date == "2030-01-10");
  CHECK(r.buckets[0].provider == "main");
  CHECK(r.buckets[0].sends == 3);
  CHECK(r.buckets[0].reasons.at("deferred: quiet hours 21:00-08:00") == 3);
  CHECK(r.buckets[1].date == "2030-01-11");
  CHECK(r.buckets[1].sends == 1);
  CHECK(r.buckets[2].date == "2030-01-12");
  CHECK(r.buckets[2].sends == 1);
  CHECK(r.buckets[1].reasons.at("suppressed: expired: frequency cap: active 1 per 7d") == 1);
  // Nothing was written.
  CHECK(db->messages({}).empty());
  CHECK(db->list_campaigns().empty());
}
