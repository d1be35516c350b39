// Conformance suite of inbound_store (engine/store/inbound_store.hpp), run on every backend.
//
// The inbound store's contract where it needs no queue:
// contacts made from an inbound number, opt-out and opt-in, preferences, stored replies and
// events, receipts for no known message. Runs on every backend (tests/store/backends.hpp); the
// reply engine's use of it is tests/inbound/replies_test.cpp.
#include <doctest/doctest.h>

#include <cmath>

#include "tests/store/backends.hpp"
#include "tests/store/fixture.hpp"

using namespace pigeon::engine;
using pigeon::engine::test::at_ms;
using pigeon::engine::test::make_contact;

namespace {

reply_row reply_from(std::int64_t contact_id, const std::string& carrier_id, std::int64_t ms) {
  reply_row r;
  r.provider = "main";
  r.carrier_id = carrier_id;
  r.phone = "+8613900000001";
  r.contact_id = contact_id;
  r.text = r.normalized = "YES";
  r.at = at_ms(ms);
  return r;
}

}  // namespace

STORE_TEST_CASE("an inbound number finds its contact, or becomes a new one with no tags") {
  store_backend backend;
  store* s = backend.open();
  auto known = s->upsert_contacts({make_contact("+8613900000001")})[0];
  CHECK(s->ensure_contact("+8613900000001", at_ms(1000)) == known);
  auto fresh = s->ensure_contact("+8613900000002", at_ms(1000));
  CHECK(fresh != known);
  CHECK(s->ensure_contact("+8613900000002", at_ms(2000)) == fresh);
  auto c = s->find_contact("+8613900000002");
  REQUIRE(c);
  CHECK(c->id == fresh);
  CHECK(c->tags.empty());
  CHECK(s->find_contact("+8613900000001")->tags == std::vector<std::string>{"member"});
}

STORE_TEST_CASE("an opt-in clears an opt-out, keeping the first opt-out's time until then") {
  store_backend backend;
  store* s = backend.open();
  auto id = s->ensure_contact("+8613900000001", at_ms(1000));
  CHECK(!s->opt_in(id, at_ms(1500)));  // not opted out: nothing to clear
  CHECK(s->opt_out(id, "reply: STOP", at_ms(2000)) == 0);
  s->opt_out(id, "manual", at_ms(3000));
  CHECK(s->opted_out_at(id) == at_ms(2000));
  REQUIRE(s->opt_out_state(id));
  CHECK(s->opt_out_state(id)->source == "manual");
  CHECK(s->opt_in(id, at_ms(4000)));
  CHECK(!s->opted_out_at(id));
  CHECK(!s->opt_out_state(id));
  CHECK(!s->opt_in(id, at_ms(5000)));
}

STORE_TEST_CASE("tags are added once and a frequency preference is replaced by the latest") {
  store_backend backend;
  store* s = backend.open();
  auto id = s->upsert_contacts({make_contact("+8613900000001")})[0];
  s->add_tag(id, "vip", at_ms(1000));
  s->add_tag(id, "vip", at_ms(2000));
  s->add_tag(id + 1000, "vip", at_ms(2000));  // no such contact: nothing happens
  CHECK(s->find_contact("+8613900000001")->tags == std::vector<std::string>{"member", "vip"});
  CHECK(!s->preference(id));
  s->set_preference(id, {2, std::chrono::hours(24 * 7)}, "reply: 2", at_ms(1000));
  s->set_preference(id, {1, std::chrono::hours(24 * 30)}, "reply: 1", at_ms(2000));
  auto p = s->preference(id);
  REQUIRE(p);
  CHECK(p->max == 1);
  CHECK(p->per == std::chrono::hours(24 * 30));
}

STORE_TEST_CASE("replies are listed oldest first, by campaign, time and contact, up to a limit") {
  store_backend backend;
  store* s = backend.open();
  auto ann = s->ensure_contact("+8613900000001", at_ms(0));
  auto bob = s->ensure_contact("+8613900000002", at_ms(0));
  auto first = s->record_reply(reply_from(ann, "MO-1", 3000));
  REQUIRE(first > 0);
  CHECK(s->record_reply(reply_from(ann, "MO-1", 3500)) == 0);  // the carrier retrying
  auto second = s->record_reply(reply_from(bob, "MO-2", 1000));
  auto third = s->record_reply(reply_from(ann, "", 2000));
  auto fourth = s->record_reply(reply_from(0, "", 4000));  // from no known contact
  CHECK(s->record_reply(reply_from(ann, "", 2000)) > 0);   // no carrier id: nothing to dedupe
  auto matched = reply_from(ann, "MO-1", 3000);
  matched.id = first;
  matched.campaign = "promo";
  matched.message_id = 42;
  matched.keyword = "YES";
  matched.action = "nps";
  matched.nps_score = 9;
  s->update_reply(matched);

  auto ids = [](const std::vector<reply_row>& rows) {
    std::vector<std::int64_t> out;
    for (const auto& r : rows) out.push_back(r.id);
    return out;
  };
  auto all = s->replies({});
  REQUIRE(all.size() == 5);
  CHECK(all[0].id == second);
  CHECK(all.back().id == fourth);
  CHECK(all.back().contact_id == 0);
  reply_filter by_campaign;
  by_campaign.campaign = "promo";
  auto promo = s->replies(by_campaign);
  REQUIRE(promo.size() == 1);
  CHECK(promo[0].message_id == 42);
  CHECK(promo[0].keyword == "YES");
  CHECK(promo[0].action == "nps");
  CHECK(promo[0].nps_score == 9);
  CHECK(promo[0].at == at_ms(3000));
  reply_filter since;
  since.since = at_ms(3000);
  CHECK(ids(s->replies(since)) == std::vector<std::int64_t>{first, fourth});
  reply_filter of_bob;
  of_bob.contact_id = bob;
  CHECK(ids(s->replies(of_bob)) == std::vector<std::int64_t>{second});
  reply_filter two;
  two.limit = 2;
  CHECK(ids(s->replies(two)) == std::vector<std::int64_t>{second, third});
}

STORE_TEST_CASE("events are listed per contact, by name and from a time, oldest first") {
  store_backend backend;
  store* s = backend.open();
  auto ann = s->ensure_contact("+8613900000001", at_ms(0));
  auto bob = s->ensure_contact("+8613900000002", at_ms(0));
  auto late = s->record_event({0, "purchase", ann, {{"sku", "A1"}}, at_ms(3000), at_ms(3100)});
  auto early = s->record_event({0, "purchase", ann, {{"sku", "B2"}}, at_ms(1000), at_ms(3200)});
  auto visit = s->record_event({0, "visit", ann, {}, at_ms(2000), at_ms(2000)});
  s->record_event({0, "purchase", bob, {}, at_ms(1000), at_ms(1000)});
  CHECK(early != late);
  auto purchases = s->events(ann, "purchase", at_ms(0));
  REQUIRE(purchases.size() == 2);
  CHECK(purchases[0].id == early);
  CHECK(purchases[0].properties.at("sku").as_string() == "B2");
  CHECK(purchases[0].received_at == at_ms(3200));
  CHECK(purchases[1].id == late);
  auto all = s->events(ann, "", at_ms(2000));
  REQUIRE(all.size() == 2);
  CHECK(all[0].id == visit);
  CHECK(all[1].id == late);
  CHECK_THROWS_AS(s->record_event({0, "x", ann, {{"n", std::nan("")}}, at_ms(1), at_ms(1)}),
                  store_error);
  CHECK(s->events(ann, "x", at_ms(0)).empty());
}

STORE_TEST_CASE("a receipt for no known message is kept once and changes nothing") {
  store_backend backend;
  store* s = backend.open();
  receipt r;
  r.provider = "main";
  r.carrier_id = "C-unknown";
  r.state = message_state::delivered;
  r.status = "DELIVRD";
  r.at = r.received_at = at_ms(1000);
  CHECK(s->record_receipt(r) == receipt_effect::unknown_message);
  CHECK(s->record_receipt(r) == receipt_effect::duplicate);
  r.status = "EXPIRED";
  r.state = message_state::undelivered;
  CHECK(s->record_receipt(r) == receipt_effect::unknown_message);  // another status: kept too
  receipt by_id;
  by_id.provider = "main";
  by_id.message_id = 99;
  by_id.state = message_state::delivered;
  by_id.status = "DELIVRD";
  by_id.at = by_id.received_at = at_ms(1000);
  CHECK(s->record_receipt(by_id) == receipt_effect::unknown_message);
  CHECK(s->record_receipt(by_id) == receipt_effect::duplicate);
}
