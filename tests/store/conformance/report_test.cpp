// Conformance suite of report_store (engine/store/report_store.hpp), run on every backend:
// status, the message log, operations, and collect_report's figures, the same on every backend
// (also checked row for row against PostgreSQL, with its cost there).
#include <doctest/doctest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <random>
#include <sstream>

#include "engine/store/postgres/connection.hpp"
#include "tests/store/backends.hpp"
#include "tests/store/fixture.hpp"

using namespace pigeon::engine;
using namespace pigeon::engine::postgres;
using namespace pigeon::engine::sqlite;
using pigeon::engine::test::at_ms;
using pigeon::engine::test::make_campaign;
using pigeon::engine::test::make_contact;
using pigeon::engine::test::make_message;
using pigeon::engine::test::temp_dir;

namespace {

using namespace std::chrono_literals;

constexpr std::int64_t day0 = 1'794'355'200'000;  // 2026-11-11T00:00:00Z
constexpr std::int64_t hour_ms = 3'600'000;
// The sends: 23:59 on the first day, so deliveries and replies fall on the next.
constexpr std::int64_t send_at = day0 + 23 * hour_ms + 59 * 60'000;

void reply(store& s, std::int64_t contact, std::int64_t message, const std::string& keyword,
           const std::string& carrier_id, std::int64_t at) {
  reply_row r;
  r.provider = "main";
  r.carrier_id = carrier_id;
  r.phone = "+86139000000" + std::to_string(contact);
  r.contact_id = contact;
  r.text = r.normalized = keyword.empty() ? "hm" : keyword;
  r.at = at_ms(at);
  r.id = s.record_reply(r);
  r.campaign = "promo";
  r.message_id = message;
  r.keyword = keyword;
  s.update_reply(r);
}

// Campaign "promo": step s1 with variants A (contacts 0-2, one segment) and B (3-5, two
// segments), step s2 (contact 0, not due yet). c0 and c1 delivered, c2 rejected, c3
// undelivered by receipt, c4 capped, c5 delivered through "backup"; replies from c0 (twice,
// goal keyword "1"), c1 (unmatched) and c5 ("Y"); c1 opts out; c5 buys.
std::vector<std::int64_t> seed(store& s) {
  std::vector<contact> cs;
  for (int i = 0; i < 6; ++i) cs.push_back(make_contact("+8613900000" + std::to_string(10 + i)));
  auto ids = s.upsert_contacts(cs);
  auto campaign = make_campaign("promo", "h1", {"s1", "s2"});
  campaign.templates.push_back({"s1", "B", 100, "sms", "hola", "", {}, false, {}, {}});
  s.save_campaign(campaign);
  std::vector<new_message> ms;
  for (int i = 0; i < 6; ++i) {
    ms.push_back(make_message("promo", "s1", ids[i], day0));
    if (i >= 3) ms.back().variant = "B";
  }
  ms.push_back(make_message("promo", "s2", ids[0], day0 + 48 * hour_ms));
  s.enqueue(ms);
  auto claimed = s.claim_due(at_ms(send_at), 10, at_ms(send_at + hour_ms), "engine");
  REQUIRE(claimed.size() == 6);
  std::map<std::int64_t, std::int64_t> message_of;  // contact -> its s1 message
  for (const auto& m : claimed) {
    message_of[m.recipient.id] = m.id;
    const bool b = m.recipient.id >= ids[3];
    s.mark_submitting(
        {{m.id, m.recipient.id == ids[5] ? "backup" : "main", "hi", b ? 2 : 1, at_ms(send_at)}});
  }
  auto msg = [&](int i) { return message_of.at(ids[static_cast<std::size_t>(i)]); };
  const auto sent = at_ms(send_at + 1000);
  s.record_outcomes({
      {msg(0), message_state::submitted, "main", "C0", "", std::nullopt, sent},
      {msg(1), message_state::submitted, "main", "C1", "", std::nullopt, sent},
      {msg(2), message_state::failed, "main", "", "rejected 21211: invalid number", std::nullopt,
       sent},
      {msg(3), message_state::submitted, "main", "C3", "", std::nullopt, sent},
      {msg(4), message_state::suppressed, "main", "", "frequency cap: 1 per day", std::nullopt,
       sent},
      {msg(5), message_state::submitted, "backup", "C5", "", std::nullopt, sent},
  });
  s.record_outcomes(
      {{msg(1), message_state::delivered, "main", "", "", std::nullopt, at_ms(send_at + 3000)},
       {msg(0), message_state::delivered, "main", "", "", std::nullopt,
        at_ms(day0 + 24 * hour_ms + 10'000)},
       {msg(5), message_state::delivered, "backup", "", "", std::nullopt,
        at_ms(day0 + 24 * hour_ms + 30'000)}});
  receipt r;
  r.provider = "main";
  r.carrier_id = "C3";
  r.message_id = msg(3);
  r.state = message_state::undelivered;
  r.status = "undelivered";
  r.error_code = "30003";
  r.error_text = "unreachable";
  r.at = r.received_at = at_ms(day0 + 24 * hour_ms + 20'000);
  s.record_receipt(r);
  reply(s, ids[0], msg(0), "1", "R1", day0 + 25 * hour_ms);
  reply(s, ids[0], msg(0), "1", "R2", day0 + 26 * hour_ms);
  reply(s, ids[1], msg(1), "", "R3", day0 + 25 * hour_ms + 60'000);
  reply(s, ids[5], msg(5), "Y", "R4", day0 + 25 * hour_ms + 120'000);
  s.opt_out(ids[1], "reply: STOP", at_ms(day0 + 25 * hour_ms + 1'800'000));
  s.record_event(
      {0, "purchase", ids[5], {}, at_ms(day0 + 27 * hour_ms), at_ms(day0 + 27 * hour_ms)});
  s.record_event(
      {0, "purchase", ids[4], {}, at_ms(day0 + 27 * hour_ms), at_ms(day0 + 27 * hour_ms)});
  return ids;
}

report_step_key key(const char* step, const char* variant) { return {step, variant}; }

}  // namespace

STORE_TEST_CASE("a report counts the funnel, replies, opt-outs, conversions and errors per row") {
  store_backend backend;
  store* s = backend.open();
  seed(*s);
  auto f = s->collect_report({"promo", 7 * 24h, {"purchase"}, {"1"}});

  REQUIRE(f.cells.size() == 3);
  const auto& a = f.cells.at(key("s1", "A"));
  CHECK(a.queued == 3);
  CHECK(a.sent == 2);
  CHECK(a.delivered == 2);
  CHECK(a.failed == 1);
  CHECK(a.pending == 0);
  CHECK(a.segments == 2);
  CHECK(a.replied == 2);
  CHECK(a.replied_by_keyword == std::map<std::string, std::int64_t>{{"(unmatched)", 1}, {"1", 1}});
  CHECK(a.opted_out == 1);
  CHECK(a.converted == 1);
  CHECK(a.converted_by_goal == std::map<std::string, std::int64_t>{{"reply:1", 1}});
  const auto& b = f.cells.at(key("s1", "B"));
  CHECK(b.queued == 3);
  CHECK(b.sent == 2);
  CHECK(b.delivered == 1);
  CHECK(b.undelivered == 1);
  CHECK(b.suppressed == 1);
  CHECK(b.suppressed_by_reason ==
        std::map<std::string, std::int64_t>{{"frequency cap: 1 per day", 1}});
  CHECK(b.segments == 4);
  CHECK(b.replied_by_keyword == std::map<std::string, std::int64_t>{{"Y", 1}});
  CHECK(b.opted_out == 0);
  CHECK(b.converted_by_goal == std::map<std::string, std::int64_t>{{"event:purchase", 1}});
  const auto& later = f.cells.at(key("s2", "A"));
  CHECK(later.queued == 1);
  CHECK(later.pending == 1);
  CHECK(later.sent == 0);

  // Each figure on the day it happened.
  const auto& a11 = f.days.at({"2026-11-11", key("s1", "A")});
  CHECK(a11.sent == 2);
  CHECK(a11.segments == 2);
  CHECK(a11.delivered == 1);
  CHECK(a11.failed == 1);
  const auto& a12 = f.days.at({"2026-11-12", key("s1", "A")});
  CHECK(a12.delivered == 1);
  CHECK(a12.replied == 2);
  CHECK(a12.opted_out == 1);
  CHECK(a12.converted == 1);
  const auto& b11 = f.days.at({"2026-11-11", key("s1", "B")});
  CHECK(b11.sent == 2);
  CHECK(b11.suppressed_by_reason.at("frequency cap: 1 per day") == 1);
  const auto& b12 = f.days.at({"2026-11-12", key("s1", "B")});
  CHECK(b12.undelivered == 1);
  CHECK(b12.delivered == 1);
  CHECK(b12.converted == 1);
  CHECK(f.days.size() == 4);

  REQUIRE(f.hours.size() == 4);
  CHECK(f.hours.at(day0 + 23 * hour_ms).sent == 4);
  CHECK(f.hours.at(day0 + 23 * hour_ms).delivered == 1);
  CHECK(f.hours.at(day0 + 24 * hour_ms).delivered == 2);
  CHECK(f.hours.at(day0 + 25 * hour_ms).replied == 3);
  CHECK(f.hours.at(day0 + 26 * hour_ms).replied == 1);

  auto latencies = f.latencies_ms;
  std::sort(latencies.begin(), latencies.end());
  CHECK(latencies == std::vector<std::int64_t>{2000, 69'000, 89'000});
  CHECK(f.segments_by_provider == std::map<std::string, std::int64_t>{{"backup", 2}, {"main", 4}});
  REQUIRE(f.errors.size() == 2);
  CHECK(f.errors[0].provider == "main");
  CHECK(f.errors[0].code == "21211");
  CHECK(f.errors[0].text == "rejected 21211: invalid number");
  CHECK(f.errors[1].code == "30003");
  CHECK(f.errors[1].text == "unreachable");
  CHECK(f.errors[1].count == 1);
}

STORE_TEST_CASE("a report of a campaign without messages is empty") {
  store_backend backend;
  store* s = backend.open();
  s->save_campaign(make_campaign("quiet", "h1"));
  auto f = s->collect_report({"quiet", 24h, {"purchase"}, {"1"}});
  CHECK(f.cells.empty());
  CHECK(f.days.empty());
  CHECK(f.hours.empty());
  CHECK(f.latencies_ms.empty());
  CHECK(f.errors.empty());
}

// status, messages and operations, on tests/store/fixture.hpp's queue fixture (its seed, not
// the report fixture's above).
namespace queue_fixture {

using pigeon::engine::test::seed;

STORE_TEST_CASE("status counts every state, per campaign, and reports heartbeat and contacts") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s);
  s->enqueue(
      {make_message("promo", "s1", ids[0], 1000), make_message("promo", "s2", ids[0], 9000)});
  s->heartbeat("engine-a", at_ms(1500));
  auto st = s->status(at_ms(2000));
  CHECK(st.by_state.size() == std::size(all_states));
  CHECK(st.by_state.at("scheduled") == 2);
  CHECK(st.by_state.at("expired") == 0);
  REQUIRE(st.campaigns.size() == 1);
  CHECK(st.campaigns[0].name == "promo");
  CHECK(st.campaigns[0].version == 1);
  CHECK(st.campaigns[0].state == "active");
  CHECK(st.campaigns[0].by_state.at("scheduled") == 2);
  CHECK(st.oldest_due == at_ms(1000));
  CHECK(st.engine_heartbeat == at_ms(1500));
  CHECK(st.engine_owner == "engine-a");
  CHECK(st.contacts == 2);
  CHECK(s->messages({"", std::nullopt, 1}).size() == 1);
}

STORE_TEST_CASE("the message log can leave out paused and cancelled campaigns") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s);
  s->enqueue({make_message("promo", "s1", ids[0], 1000)});
  message_filter active{
      .campaign = {}, .state = std::nullopt, .limit = 0, .active_campaigns_only = true};
  CHECK(s->messages(active).size() == 1);
  REQUIRE(s->set_campaign_state("promo", "paused", at_ms(1100)));
  CHECK(s->messages(active).empty());
  CHECK(s->messages({}).size() == 1);
}

STORE_TEST_CASE("the message log can be narrowed to one recipient") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s);
  s->enqueue(
      {make_message("promo", "s1", ids[0], 1000), make_message("promo", "s1", ids[1], 1000)});
  message_filter one;
  one.phone = "+8613800000001";
  auto rows = s->messages(one);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].phone == "+8613800000001");
  one.phone = "+8613800000009";
  CHECK(s->messages(one).empty());
}

STORE_TEST_CASE("status totals by state equal the sum of every campaign's counts") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s, 3);
  s->save_campaign(make_campaign("other", "h2", {"s1"}));
  s->enqueue({make_message("promo", "s1", ids[0], 1000), make_message("promo", "s1", ids[1], 1000),
              make_message("other", "s1", ids[2], 1000)});
  auto claimed = s->claim_due(at_ms(2000), 1, at_ms(60000), "a");
  REQUIRE(claimed.size() == 1);
  auto st = s->status(at_ms(2000));
  CHECK(st.by_state.at("scheduled") == 2);
  CHECK(st.by_state.at("leased") == 1);
  CHECK(st.by_state.at("submitted") == 0);  // every state is listed, zero or not
  std::int64_t scheduled = 0;
  for (const auto& c : st.campaigns) scheduled += c.by_state.at("scheduled");
  CHECK(scheduled == 2);
}

STORE_TEST_CASE("operations count attempts per provider and window, with latency and error rate") {
  store_backend backend;
  store* s = seed(backend.open());
  auto now = at_ms(10'000'000);
  auto claimed = s->claim_due(now, 4, now + std::chrono::minutes(5), "me");
  REQUIRE(claimed.size() == 4);
  // Four attempts 30 s ago: three on main, one on backup.
  for (int i = 0; i < 4; ++i) {
    s->mark_submitting(
        {{claimed[i].id, i < 3 ? "main" : "backup", "x", 1, now - std::chrono::seconds(30)}});
  }
  auto done = now - std::chrono::seconds(30) + std::chrono::milliseconds(250);
  s->record_outcomes(
      {{claimed[0].id, message_state::submitted, "main", "c0", "", {}, done},
       {claimed[1].id, message_state::failed, "main", "", "rejected 21211", {}, done},
       {claimed[2].id, message_state::retry, "main", "", "carrier 503", now, done}});
  auto ops = s->operations(now);
  CHECK(ops.last_minute.attempts == 4);
  CHECK(ops.last_minute.pending == 1);
  CHECK(ops.last_minute.accepted == 1);
  CHECK(ops.last_minute.failed == 1);
  CHECK(ops.last_minute.retried == 1);
  CHECK(ops.last_minute.error_rate() == doctest::Approx(2.0 / 3));
  REQUIRE(ops.providers.size() == 2);
  CHECK(ops.providers[0].name == "backup");
  CHECK(!ops.providers[0].p99_latency_ms);
  CHECK(ops.providers[1].name == "main");
  CHECK(ops.providers[1].last_hour.attempts == 3);
  REQUIRE(ops.providers[1].p99_latency_ms);
  CHECK(*ops.providers[1].p99_latency_ms == doctest::Approx(250));
  CHECK(ops.retry_backlog == 1);
  // An hour later, nothing is recent.
  auto later = s->operations(now + std::chrono::hours(2));
  CHECK(later.last_hour.attempts == 0);
  REQUIRE(ops.campaigns.size() == 1);
  CHECK(ops.campaigns[0].variants.at(0).total == 4);
  CHECK(ops.campaigns[0].variants.at(0).sent == 1);
  CHECK(ops.campaigns[0].variants.at(0).failed == 1);
  CHECK(ops.replies_table);
  CHECK(ops.campaigns[0].opt_outs == 0);
}

STORE_TEST_CASE("a rehearsal's attempts stay out of the live rates but count for the campaign") {
  store_backend backend;
  store* s = seed(backend.open());
  auto now = at_ms(10'000'000);
  auto claimed = s->claim_due(now, 4, now + std::chrono::minutes(5), "me");
  REQUIRE(claimed.size() == 4);
  s->mark_submitting({{claimed[0].id, "main", "x", 1, now - std::chrono::seconds(30)}});
  s->mark_sends_simulated();
  for (int i = 1; i < 4; ++i)
    s->mark_submitting({{claimed[i].id, "main", "x", 1, now - std::chrono::seconds(30)}});
  for (int i = 0; i < 4; ++i)
    s->record_outcomes({{claimed[i].id, message_state::submitted, "main", "c", "", {}, now}});
  auto ops = s->operations(now);
  CHECK(ops.last_minute.attempts == 1);
  CHECK(ops.last_hour.attempts == 1);
  REQUIRE(ops.providers.size() == 1);
  CHECK(ops.providers[0].last_minute.attempts == 1);
  REQUIRE(ops.campaigns.size() == 1);
  CHECK(ops.campaigns[0].variants.at(0).sent == 4);
}

STORE_TEST_CASE("replies per keyword and opt-outs after a send are counted per campaign") {
  store_backend backend;
  store* s = seed(backend.open());
  auto claimed = s->claim_due(at_ms(1000), 4, at_ms(600000), "me");
  REQUIRE(claimed.size() == 4);
  s->mark_submitting({{claimed[0].id, "main", "x", 1, at_ms(1100)}});
  s->record_outcomes(
      {{claimed[0].id, message_state::submitted, "main", "c0", "", {}, at_ms(1200)}});
  // A STOP attributed to the message sent, two YES matched to the campaign without one.
  auto reply = [&](const claimed_message& to, const char* keyword, std::int64_t message,
                   const char* carrier_id, std::int64_t at) {
    reply_row r;
    r.provider = "main";
    r.carrier_id = carrier_id;
    r.phone = to.recipient.phone;
    r.contact_id = to.recipient.id;
    r.text = r.normalized = keyword;
    r.at = at_ms(at);
    r.id = s->record_reply(r);
    r.campaign = "promo";
    r.keyword = keyword;
    r.message_id = message;
    s->update_reply(r);
  };
  reply(claimed[0], "STOP", claimed[0].id, "r1", 4000);
  reply(claimed[1], "YES", 0, "r2", 4100);
  reply(claimed[2], "YES", 0, "r3", 4200);
  s->opt_out(claimed[0].recipient.id, "reply: STOP", at_ms(5000));
  auto ops = s->operations(at_ms(6000));
  CHECK(ops.replies_table);
  REQUIRE(ops.campaigns.size() == 1);
  CHECK(ops.campaigns[0].replies == std::map<std::string, std::int64_t>{{"STOP", 1}, {"YES", 2}});
  CHECK(ops.campaigns[0].variants.at(0).replies == 1);
  CHECK(ops.campaigns[0].opt_outs == 1);
}

}  // namespace queue_fixture

namespace {

// Rows of every table a report reads, written as plain SQL both backends take (the same values
// on either): `contacts` contacts (stored first, through the interface, so their ids agree),
// three steps of campaign "promo" (variants A, B) for each with every state, times spread over
// four days around day0, replies, receipts, goal events and opt-outs, plus direct messages and
// another campaign's that the report leaves out.
std::vector<std::string> report_rows(int contacts) {
  std::mt19937_64 rng(42);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<std::uint64_t>(n)); };
  auto when = [&] {
    return day0 - 24 * hour_ms + static_cast<std::int64_t>(rng() % (96 * hour_ms));
  };
  const char* states[] = {"scheduled",   "retry",     "deferred",  "submitting",
                          "submitted",   "delivered", "delivered", "delivered",
                          "undelivered", "failed",    "expired",   "suppressed"};
  const char* reasons[] = {"", "frequency cap: 1 per day", "opted out", "campaign cancelled"};
  const char* providers[] = {"main", "backup", ""};
  const char* keywords[] = {"1", "2", "STOP", "", "y"};
  std::vector<std::string> out;
  std::ostringstream sql;
  auto flush = [&](bool force) {
    if (!force && sql.tellp() < 1'000'000) return;
    auto text = sql.str();
    if (!text.empty()) out.push_back(text.substr(0, text.size() - 1));  // the last ','
    sql.str("");
  };
  const char* insert_messages =
      "INSERT INTO messages (id, campaign, step, variant, contact_id, state, due_at, created_at, "
      "updated_at, sent_at, final_at, segments, provider, reason, direct_text) VALUES ";
  std::int64_t id = 0;
  std::vector<std::pair<std::int64_t, int>> failures;  // message, contact
  for (int c = 1; c <= contacts; ++c) {
    for (const char* step : {"s1", "s2", "direct"}) {
      if (sql.tellp() == 0) sql << insert_messages;
      const std::string state = states[pick(12)];
      const bool sent = state == "submitted" || state == "delivered" || state == "undelivered" ||
                        (state == "expired" && pick(2));
      const std::int64_t sent_at = when();
      const bool final = state == "delivered" || state == "undelivered" || state == "failed" ||
                         state == "expired" || state == "suppressed";
      const std::int64_t final_at = (sent ? sent_at : when()) + pick(600'000) - 1000;
      std::string reason = state == "suppressed" ? reasons[pick(4)]
                           : state == "failed"   ? "rejected 2121" + std::to_string(pick(3)) +
                                                     ": bad number " + std::to_string(pick(2))
                                               : "";
      sql << "(" << ++id << ", 'promo', '" << step << "', '" << (c % 3 ? "A" : "B") << "', " << c
          << ", '" << state << "', " << day0 << ", 0, 0, "
          << (sent ? std::to_string(sent_at) : "NULL") << ", "
          << (final && pick(10) ? std::to_string(final_at) : "NULL") << ", " << 1 + pick(3) << ", '"
          << providers[pick(3)] << "', '" << reason << "', "
          << (std::string(step) == "direct" ? "'thanks'" : "NULL") << "),";
      if (state == "failed" || state == "undelivered") failures.emplace_back(id, c);
      flush(false);
    }
  }
  // Another campaign's message for every tenth contact.
  for (int c = 1; c <= contacts; c += 10) {
    if (sql.tellp() == 0) sql << insert_messages;
    sql << "(" << ++id << ", 'other', 's1', 'A', " << c << ", 'delivered', " << day0 << ", 0, 0, "
        << day0 << ", " << day0 + 5000 << ", 1, 'main', '', NULL),";
    flush(false);
  }
  flush(true);
  const auto message_of = [&](int contact, int step) { return (contact - 1) * 3 + step + 1; };
  for (int i = 0; i < contacts / 2; ++i) {
    if (sql.tellp() == 0)
      sql << "INSERT INTO replies (provider, carrier_id, phone, contact_id, text, normalized, "
             "campaign, message_id, keyword, at) VALUES ";
    const int c = 1 + pick(contacts);
    sql << "('main', 'r" << i << "', '+1', " << c << ", 'x', 'X', 'promo', "
        << message_of(c, pick(3)) << ", '" << keywords[pick(5)] << "', " << when() << "),";
    flush(false);
  }
  flush(true);
  std::int64_t receipt = 0;
  for (const auto& [message, c] : failures) {
    if (pick(3) == 0) continue;  // no receipt: the code comes from the reason
    if (sql.tellp() == 0)
      sql << "INSERT INTO receipts (provider, dedupe_key, carrier_id, message_id, status, state, "
             "error_code, error_text, at, received_at, effect) VALUES ";
    for (int n = 1 + pick(2); n > 0; --n)
      sql << "('main', 'k" << ++receipt << "', 'c', " << message << ", 's" << n
          << "', 'undelivered', '" << (pick(4) ? "3000" + std::to_string(pick(3)) : "")
          << "', 'unreachable " << pick(3) << "', 0, 0, 'applied'),";
    flush(false);
  }
  flush(true);
  for (int i = 0; i < contacts / 3; ++i) {
    if (sql.tellp() == 0) sql << "INSERT INTO events (name, contact_id, at, received_at) VALUES ";
    sql << "('" << (pick(2) ? "purchase" : "signup") << "', " << 1 + pick(contacts) << ", "
        << when() << ", 0),";
    flush(false);
  }
  flush(true);
  for (int c = 1; c <= contacts; c += 7)
    out.push_back("UPDATE contacts SET opted_out_at = " + std::to_string(when()) +
                  " WHERE id = " + std::to_string(c));
  return out;
}

void fill(store& s, int contacts) {
  s.save_campaign(make_campaign("promo", "h1", {"s1", "s2", "direct"}));
  s.save_campaign(make_campaign("other", "h1"));
  std::vector<contact> cs;
  for (int c = 1; c <= contacts; ++c)
    cs.push_back(make_contact("+1555" + std::to_string(1'000'000 + c)));
  s.upsert_contacts(cs);
}

// Every figure of `f`, one per line (latencies sorted).
std::string figures(report_facts f) {
  std::ostringstream o;
  auto counts = [&](const report_counts& c) {
    o << c.queued << ' ' << c.sent << ' ' << c.delivered << ' ' << c.undelivered << ' ' << c.failed
      << ' ' << c.expired << ' ' << c.suppressed << ' ' << c.pending << ' ' << c.replied << ' '
      << c.opted_out << ' ' << c.converted << ' ' << c.segments;
    for (const auto* m : {&c.suppressed_by_reason, &c.replied_by_keyword, &c.converted_by_goal})
      for (const auto& [k, n] : *m) o << " [" << k << "]=" << n;
    o << '\n';
  };
  for (const auto& [k, c] : f.cells) {
    o << k.step << '/' << k.variant << ": ";
    counts(c);
  }
  for (const auto& [k, c] : f.days) {
    o << k.first << ' ' << k.second.step << '/' << k.second.variant << ": ";
    counts(c);
  }
  for (const auto& [at, h] : f.hours)
    o << at << ": " << h.sent << ' ' << h.delivered << ' ' << h.replied << '\n';
  std::sort(f.latencies_ms.begin(), f.latencies_ms.end());
  for (auto l : f.latencies_ms) o << l << ' ';
  o << '\n';
  for (const auto& [p, n] : f.segments_by_provider) o << '[' << p << "]=" << n << '\n';
  for (const auto& e : f.errors)
    o << e.provider << ' ' << e.code << ' ' << e.text << ' ' << e.count << '\n';
  return o.str();
}

const report_query promo_query{"promo", 24h, {"purchase"}, {"1", "Y"}};

}  // namespace

TEST_CASE("a report has the same figures on SQLite and PostgreSQL for the same rows") {
  constexpr int contacts = 600;
  const auto rows = report_rows(contacts);
  temp_dir dir;
  const auto path = dir.file("report.db");
  std::string on_sqlite;
  {
    auto s = sqlite_store::open(path);
    fill(*s, contacts);
    for (const auto& sql : rows) REQUIRE(pigeon::engine::test::run_sqlite(path, sql) == "");
    on_sqlite = figures(s->collect_report(promo_query));
  }
  pigeon::engine::test::postgres_backend backend;
  auto* pg = dynamic_cast<postgres_store*>(backend.open());
  REQUIRE(pg);
  fill(*pg, contacts);
  for (const auto& sql : rows) pg->connection().exec(sql);
  auto on_postgres = figures(pg->collect_report(promo_query));
  // Enough of everything to mean something.
  auto facts = pg->collect_report(promo_query);
  CHECK(facts.cells.size() == 4);
  CHECK(facts.days.size() > 12);
  CHECK(facts.latencies_ms.size() > 100);
  CHECK(facts.errors.size() > 5);
  CHECK(facts.cells.at({"s1", "A"}).converted > 0);
  CHECK(facts.cells.at({"s1", "A"}).opted_out > 0);
  CHECK(on_postgres == on_sqlite);
}

// Not a test: what collect_report costs on PostgreSQL for a campaign of 100,000 messages (run
// with --no-skip -tc='*costs*'; the figure is in docs/BENCHMARKS.md).
TEST_CASE("a report of 100,000 messages on PostgreSQL costs" * doctest::skip()) {
  constexpr int contacts = 50'000;  // two campaign steps each, besides direct messages
  const auto rows = report_rows(contacts);
  pigeon::engine::test::postgres_backend backend;
  auto* pg = dynamic_cast<postgres_store*>(backend.open());
  REQUIRE(pg);
  fill(*pg, contacts);
  for (const auto& sql : rows) pg->connection().exec(sql);
  pg->connection().exec("VACUUM ANALYZE");
  // The server's CPU: its backend process's user + system time (Linux /proc, same machine).
  const auto server_pid = pg->connection().query_int("SELECT pg_backend_pid()");
  auto server_ms = [&] {
    std::ifstream stat("/proc/" + std::to_string(server_pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), {});
    std::istringstream rest(text.substr(text.rfind(')') + 2));
    std::string field;
    double ticks = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i)
      if (i >= 14) ticks += std::stod(field);  // utime, stime
    return 1000.0 * ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
  };
  for (int run = 0; run < 5; ++run) {
    auto start = std::chrono::steady_clock::now();
    auto cpu = std::clock();
    auto server = server_ms();
    auto f = pg->collect_report(promo_query);
    auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start);
    std::int64_t queued = 0;
    for (const auto& [_, c] : f.cells) queued += c.queued;
    MESSAGE("run " << run << ": " << queued << " messages, " << ms.count() << " ms wall, "
                   << server_ms() - server << " ms server CPU, "
                   << 1000.0 * static_cast<double>(std::clock() - cpu) / CLOCKS_PER_SEC
                   << " ms client CPU");
  }
}
