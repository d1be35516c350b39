#include <doctest/doctest.h>

#include "support.hpp"
#include "tests/store/backends.hpp"

using namespace pigeon::engine;
using namespace pigeon::engine::inbound;
using namespace pigeon::engine::test;

namespace {

constexpr std::int64_t hour = 3600 * 1000;
const std::string ann = "+8613800138000";
const std::string bob = "+8613800138001";

// Runs on every store backend (tests/store/backends.hpp): the reply engine's effects are the
// inbound interface's contract.
template <class Backend>
struct world {
  Backend backend;
  store* s = backend.open();
  reply_policy policy = make_reply_policy(reply_engine_config());
  std::vector<std::int64_t> ids = s->upsert_contacts({make_contact(ann), make_contact(bob)});

  inbound_outcome reply(const std::string& from, const std::string& text, std::int64_t at_ms_,
                        const std::string& carrier_id = "") {
    return handle_inbound(*s, policy, "sim", mo(from, text, carrier_id), at_ms(at_ms_));
  }
  std::vector<message_row> direct_messages() {
    std::vector<message_row> out;
    for (auto& m : s->messages({})) {
      if (m.step.starts_with("reply:")) out.push_back(m);
    }
    return out;
  }
};

}  // namespace

TEST_CASE("replies are normalised: trimmed, full-width folded, upper-cased, punctuation dropped") {
  CHECK(normalize_reply("  stop! ") == "STOP");
  CHECK(normalize_reply("ＳＴＯＰ") == "STOP");
  CHECK(normalize_reply("opt-out") == "OPT OUT");
  CHECK(normalize_reply("Opt\u3000  Out.") == "OPT OUT");
  CHECK(normalize_reply("退订。") == "退订");
  CHECK(normalize_reply("【１】") == "1");
  CHECK(normalize_reply("") == "");
  CHECK(normalize_reply("好的 谢谢") == "好的 谢谢");
}

STORE_TEST_CASE("a STOP opts the contact out and suppresses every queued message at once") {
  world<store_backend> w;
  save_reply_campaign(*w.s, "promo", {keyword("1", "wants-sample", "")});
  auto sent = send(*w.s, "promo", "s1", w.ids[0], 1000);
  // s2 is queued for later; a third campaign message is leased by a running claim.
  w.s->enqueue({make_message("promo", "s2", w.ids[0], 10 * hour)});
  w.s->save_campaign(make_campaign("other", "o1", {"x"}));
  w.s->enqueue({make_message("other", "x", w.ids[0], 2000)});
  auto leased = w.s->claim_due(at_ms(2000), 10, at_ms(600000), "engine");
  REQUIRE(leased.size() == 1);

  auto out = w.reply(ann, "Stop.", 3000);
  CHECK(out.reply.action == "opt_out");
  CHECK(out.suppressed == 2);
  CHECK(w.s->opted_out_at(w.ids[0]).has_value());
  for (const auto& m : w.s->messages({})) {
    if (m.id == sent || m.step.starts_with("reply:")) continue;
    CHECK(m.state == message_state::suppressed);
    CHECK(m.reason == "opted out");
  }
  // The message leased before the STOP is refused at submit time.
  CHECK(w.s->mark_submitting({{leased[0].id, "main", "x", 1, at_ms(3100)}}).empty());
  // One confirmation, transactional, through the campaign's sender.
  auto confirmations = w.direct_messages();
  REQUIRE(confirmations.size() == 1);
  auto claimed = w.s->claim_due(at_ms(3000), 10, at_ms(600000), "engine");
  REQUIRE(claimed.size() == 1);
  CHECK(claimed[0].category == "transactional");
  CHECK(claimed[0].tmpl.text.find("unsubscribed") != std::string::npos);
  // A second STOP is recorded but not confirmed again.
  w.reply(ann, "STOP", 4000);
  CHECK(w.direct_messages().size() == 1);
  // Bob is untouched.
  CHECK_FALSE(w.s->opted_out_at(w.ids[1]).has_value());
}

STORE_TEST_CASE("multi-word and Chinese opt-out keywords work, and START re-subscribes") {
  world<store_backend> w;
  save_reply_campaign(*w.s, "promo", {});
  send(*w.s, "promo", "s1", w.ids[0], 1000);
  send(*w.s, "promo", "s1", w.ids[1], 1000);
  CHECK(w.reply(ann, "opt out", 2000).reply.action == "opt_out");
  CHECK(w.reply(bob, "退订", 2000).reply.action == "opt_out");
  CHECK(w.s->opted_out_at(w.ids[1]).has_value());
  auto start = w.reply(bob, "start", 3000);
  CHECK(start.reply.action == "opt_in");
  CHECK_FALSE(w.s->opted_out_at(w.ids[1]).has_value());
  CHECK(start.queued.size() == 1);
}

STORE_TEST_CASE("compliance keywords win over a campaign keyword of the same word") {
  world<store_backend> w;
  save_reply_campaign(*w.s, "promo", {keyword("HELP", "helped", "campaign help")});
  send(*w.s, "promo", "s1", w.ids[0], 1000);
  auto out = w.reply(ann, "help", 2000);
  CHECK(out.reply.action == "help");
  auto claimed = w.s->claim_due(at_ms(2000), 10, at_ms(600000), "engine");
  REQUIRE(claimed.size() == 1);
  CHECK(claimed[0].tmpl.text == "Coffee club: call 400-000-0000");
  auto contact = w.s->find_contact(ann);
  CHECK(std::count(contact->tags.begin(), contact->tags.end(), "helped") == 0);
}

STORE_TEST_CASE("with two overlapping campaigns the most recently sent one gets the reply") {
  world<store_backend> w;
  save_reply_campaign(*w.s, "coffee", {keyword("1", "wants-sample", "sample reserved")});
  save_reply_campaign(*w.s, "tea", {keyword("1", "wants-tea", "tea reserved")});
  send(*w.s, "coffee", "s1", w.ids[0], 1 * hour);
  send(*w.s, "tea", "s1", w.ids[0], 2 * hour);
  send(*w.s, "tea", "s1", w.ids[1], 1 * hour);
  send(*w.s, "coffee", "s1", w.ids[1], 2 * hour);

  auto a = w.reply(ann, "1", 3 * hour);
  CHECK(a.reply.campaign == "tea");
  CHECK(a.reply.action == "tag:wants-tea+respond");
  auto b = w.reply(bob, "１", 3 * hour);
  CHECK(b.reply.campaign == "coffee");
  auto tags = w.s->find_contact(bob)->tags;
  CHECK(std::count(tags.begin(), tags.end(), "wants-sample") == 1);
  CHECK(std::count(tags.begin(), tags.end(), "wants-tea") == 0);
}

STORE_TEST_CASE("a reply after the campaign's valid_for is stored unmatched") {
  world<store_backend> w;
  save_reply_campaign(*w.s, "promo", {keyword("1", "wants-sample", "")}, std::chrono::hours(1));
  send(*w.s, "promo", "s1", w.ids[0], 0);
  auto late = w.reply(ann, "1", 2 * hour);
  CHECK(late.reply.campaign.empty());
  CHECK(late.reply.action.empty());
  auto rows = w.s->replies({});
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].text == "1");
  CHECK(rows[0].keyword.empty());
}

STORE_TEST_CASE("frequency, nps and follow-up actions store what the recipient asked") {
  world<store_backend> w;
  auto weekly = keyword("A", "", "ok, weekly", "frequency");
  weekly.max = 1;
  weekly.per = std::chrono::hours(24 * 7);
  save_reply_campaign(
      *w.s, "promo",
      {weekly, keyword("score", "", "", "nps"), keyword("MORE", "", "", "follow_up", "s2")});
  send(*w.s, "promo", "s1", w.ids[0], 1000);
  CHECK(w.reply(ann, "a", 2000).reply.action == "frequency+respond");
  auto pref = w.s->preference(w.ids[0]);
  REQUIRE(pref);
  CHECK(pref->max == 1);
  CHECK(pref->per == std::chrono::hours(24 * 7));

  auto nps = w.reply(ann, "9", 3000);
  CHECK(nps.reply.nps_score == 9);
  CHECK(w.reply(ann, "11", 3500).reply.nps_score == std::nullopt);

  w.reply(ann, "more", 4000);
  bool follow_up = false;
  for (const auto& m : w.s->messages({"promo", message_state::scheduled, 0}))
    follow_up = follow_up || m.step == "s2";
  CHECK(follow_up);
}

STORE_TEST_CASE(
    "a follow-up in a journey belongs to the occurrence replied to, so next year's reply queues it "
    "again") {
  world<store_backend> w;
  save_reply_campaign(*w.s, "bday", {keyword("MORE", "", "", "follow_up", "s2")},
                      std::chrono::hours(24 * 400));
  // Queues step s1 of occurrence `occurrence` and sends what is due at `at` (the previous
  // occurrence's follow-up included).
  auto send_occurrence = [&](const std::string& occurrence, std::int64_t at) {
    auto m = make_message("bday", "s1", w.ids[0], at);
    m.occurrence = occurrence;
    w.s->enqueue({m});
    for (const auto& c : w.s->claim_due(at_ms(at), 10, at_ms(at + 60'000), "t")) {
      REQUIRE(w.s->mark_submitting({{c.id, "main", "x", 1, at_ms(at)}}).size() == 1);
      w.s->record_outcomes({{c.id,
                             message_state::submitted,
                             "main",
                             "C" + std::to_string(c.id),
                             "",
                             {},
                             at_ms(at)}});
    }
  };
  auto follow_ups = [&] {
    std::size_t n = 0;
    for (const auto& m : w.s->messages({"bday", std::nullopt, 0})) n += m.step == "s2" ? 1 : 0;
    return n;
  };
  send_occurrence("2030-03-14", 1000);
  w.reply(ann, "more", 2000, "MO-2030");
  CHECK(follow_ups() == 1);
  const std::int64_t year = 365LL * 24 * hour;
  send_occurrence("2031-03-14", year);
  w.reply(ann, "more", year + 1000, "MO-2031");
  CHECK(follow_ups() == 2);
}

STORE_TEST_CASE("a carrier retrying the same inbound message triggers nothing twice") {
  world<store_backend> w;
  save_reply_campaign(*w.s, "promo", {keyword("1", "", "sample reserved")});
  send(*w.s, "promo", "s1", w.ids[0], 1000);
  CHECK_FALSE(w.reply(ann, "1", 2000, "MO-1").duplicate);
  CHECK(w.reply(ann, "1", 2500, "MO-1").duplicate);
  CHECK(w.s->replies({}).size() == 1);
  CHECK(w.direct_messages().size() == 1);
}

STORE_TEST_CASE("delivery receipts move messages forward only and duplicates change nothing") {
  world<store_backend> w;
  save_reply_campaign(*w.s, "promo", {});
  auto id = send(*w.s, "promo", "s1", w.ids[0], 1000, "SM1");
  receipt delivered{"main", "SM1",       0,          message_state::delivered, "delivered", "",
                    "",     at_ms(2000), at_ms(2000)};
  CHECK(w.s->record_receipt(delivered) == receipt_effect::applied);
  CHECK(state_of(*w.s, id) == message_state::delivered);
  CHECK(w.s->record_receipt(delivered) == receipt_effect::duplicate);
  // Late "sent" and a contradicting "undelivered" after the final state: kept, no effect.
  receipt late{"main", "SM1",       0,          message_state::submitted, "sent", "",
               "",     at_ms(1500), at_ms(3000)};
  CHECK(w.s->record_receipt(late) == receipt_effect::stale);
  receipt worse{"main", "SM1",       0,          message_state::undelivered, "undelivered", "30003",
                "",     at_ms(2500), at_ms(3000)};
  CHECK(w.s->record_receipt(worse) == receipt_effect::stale);
  CHECK(state_of(*w.s, id) == message_state::delivered);
  // Unknown carrier ids are kept for ops.
  receipt stray{"main", "NOPE",   0,       message_state::delivered, "delivered", "",
                "",     at_ms(1), at_ms(1)};
  CHECK(w.s->record_receipt(stray) == receipt_effect::unknown_message);
}

STORE_TEST_CASE("an undelivered receipt keeps the carrier's error code on the message") {
  world<store_backend> w;
  save_reply_campaign(*w.s, "promo", {});
  auto id = send(*w.s, "promo", "s1", w.ids[0], 1000, "SM2");
  receipt r{"main",
            "",
            id,
            message_state::undelivered,
            "undelivered",
            "30005",
            "unknown handset",
            at_ms(2000),
            at_ms(2000)};
  CHECK(w.s->record_receipt(r) == receipt_effect::applied);
  auto rows = w.s->messages({});
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].state == message_state::undelivered);
  CHECK(rows[0].reason.find("30005") != std::string::npos);
}

STORE_TEST_CASE("a receipt posted to another provider's endpoint leaves the message alone") {
  world<store_backend> w;
  save_reply_campaign(*w.s, "promo", {});
  auto id = send(*w.s, "promo", "s1", w.ids[0], 1000, "SM3");  // sent through "main"
  // A receipt naming pigeon's id on the kannel endpoint: that provider never had the message.
  receipt forged{"kannel",   "kannel-" + std::to_string(id),
                 id,         message_state::undelivered,
                 "16",       "",
                 "",         at_ms(2000),
                 at_ms(2000)};
  CHECK(w.s->record_receipt(forged) == receipt_effect::unknown_message);
  auto rows = w.s->messages({});
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].state == message_state::submitted);
  CHECK(rows[0].carrier_id == "SM3");
  // Its own provider's receipt still applies.
  receipt own{"main", "SM3",       id,         message_state::delivered, "delivered", "",
              "",     at_ms(2500), at_ms(2500)};
  CHECK(w.s->record_receipt(own) == receipt_effect::applied);
  CHECK(state_of(*w.s, id) == message_state::delivered);
}

STORE_TEST_CASE("a receipt for a message left submitting by a crash reconciles it: no resend") {
  world<store_backend> w;
  save_reply_campaign(*w.s, "promo", {});
  w.s->enqueue({make_message("promo", "s1", w.ids[0], 1000)});
  auto claimed = w.s->claim_due(at_ms(1000), 10, at_ms(600000), "dead");
  REQUIRE(claimed.size() == 1);
  auto id = claimed[0].id;
  w.s->mark_submitting({{id, "main", "x", 1, at_ms(1100)}});
  // The engine dies; the next one waits the grace before resending.
  auto [released, unknown] = w.s->recover_after_crash(at_ms(5000), std::chrono::seconds(30));
  CHECK(unknown == 1);
  CHECK(w.s->claim_due(at_ms(6000), 10, at_ms(600000), "new").empty());
  receipt r{"main", "",          id,         message_state::delivered, "delivered", "",
            "",     at_ms(7000), at_ms(7000)};
  CHECK(w.s->record_receipt(r) == receipt_effect::reconciled);
  CHECK(state_of(*w.s, id) == message_state::delivered);
  CHECK(w.s->claim_due(at_ms(60000), 10, at_ms(600000), "new").empty());
}

STORE_TEST_CASE("a carrier rejection for an opted-out recipient records the opt-out") {
  world<store_backend> w;
  save_reply_campaign(*w.s, "promo", {});
  w.s->enqueue({make_message("promo", "s1", w.ids[0], 1000),
                make_message("promo", "s2", w.ids[0], 9 * hour)});
  auto claimed = w.s->claim_due(at_ms(1000), 1, at_ms(600000), "e");
  REQUIRE(claimed.size() == 1);
  w.s->mark_submitting({{claimed[0].id, "main", "x", 1, at_ms(1100)}});
  send_outcome o{claimed[0].id, message_state::failed, "main", "", "rejected 21610", {},
                 at_ms(1200)};
  o.recipient_opted_out = true;
  w.s->record_outcomes({o});
  CHECK(w.s->opted_out_at(w.ids[0]).has_value());
  CHECK(w.s->messages({"promo", message_state::suppressed, 0}).size() == 1);
}

STORE_TEST_CASE(
    "a sender number prepared by the webhook server is stored as the writer would store it") {
  world<store_backend> w;
  // Formatted, prepared ahead: the same contact as the imported one, not a new one.
  const std::string formatted = "+86 138-0013-8000";
  prepare_inbound_phone(formatted);
  auto out = w.reply(formatted, "hello", 1000, "MO-1");
  CHECK(out.reply.phone == ann);
  CHECK(out.reply.contact_id == w.ids[0]);
  // An invalid international number is kept as received, prepared or not.
  prepare_inbound_phone("+999 12");
  CHECK(w.reply("+999 12", "hi", 2000, "MO-2").reply.phone == "+999 12");
  CHECK(w.reply("+999 12", "hi", 3000, "MO-3").reply.phone == "+999 12");
  // A national number is left to the writer, which applies the default region.
  w.policy.default_region = "CN";
  prepare_inbound_phone("13800138001");
  CHECK(w.reply("13800138001", "hi", 4000, "MO-4").reply.phone == bob);
}
