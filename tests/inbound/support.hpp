#pragma once

// Shared setup for the inbound tests: a store with a campaign taking replies, contacts, and
// messages sent to them at chosen times.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "../store/fixture.hpp"
#include "config/engine_config.hpp"
#include "engine/inbound/replies.hpp"

namespace pigeon::engine::test {

inline reply_keyword keyword(std::string k, std::string tag, std::string respond,
                             std::string action = "", std::string step = "") {
  reply_keyword r;
  r.keyword = k;
  r.normalized = inbound::normalize_reply(k);
  r.tag = std::move(tag);
  r.respond = std::move(respond);
  r.action = std::move(action);
  r.step = std::move(step);
  return r;
}

// A campaign "name" with steps s1, s2 and the given keywords, valid for `valid_for`.
inline void save_reply_campaign(store& s, const std::string& name,
                                std::vector<reply_keyword> keywords,
                                std::chrono::milliseconds valid_for = std::chrono::hours(24 * 7)) {
  auto c = make_campaign(name, "h-" + name, {"s1", "s2"});
  c.replies = reply_config{valid_for, std::move(keywords)};
  s.save_campaign(c);
}

// Enqueues `step` of `campaign` for the contact and records it sent (submitted) at `sent_ms`
// with carrier id `carrier_id`. Returns the message id.
inline std::int64_t send(store& s, const std::string& campaign, const std::string& step,
                         std::int64_t contact_id, std::int64_t sent_ms,
                         const std::string& carrier_id = "", const std::string& provider = "main") {
  s.enqueue({make_message(campaign, step, contact_id, sent_ms)});
  auto claimed = s.claim_due(at_ms(sent_ms), 100, at_ms(sent_ms + 60000), "t");
  std::int64_t id = 0;
  for (const auto& m : claimed) {
    if (m.campaign == campaign && m.step == step && m.recipient.id == contact_id) id = m.id;
  }
  REQUIRE(id != 0);
  s.mark_submitting({{id, provider, "text", 1, at_ms(sent_ms)}});
  s.record_outcomes({{id,
                      message_state::submitted,
                      provider,
                      carrier_id.empty() ? "C" + std::to_string(id) : carrier_id,
                      "",
                      {},
                      at_ms(sent_ms)}});
  return id;
}

inline config::engine_config reply_engine_config() {
  config::engine_config cfg;
  config::sender_config coffee;
  coffee.name = "coffee";
  coffee.help_text = "Coffee club: call 400-000-0000";
  cfg.senders["coffee"] = coffee;
  return cfg;
}

inline message_state state_of(store& s, std::int64_t id) {
  for (const auto& m : s.messages({})) {
    if (m.id == id) return m.state;
  }
  FAIL("no message " << id);
  return message_state::scheduled;
}

inline inbound_event mo(const std::string& from, const std::string& text,
                        const std::string& carrier_id = "") {
  inbound_event e;
  e.from = from;
  e.to = "coffee";
  e.text = text;
  e.carrier_id = carrier_id;
  return e;
}

}  // namespace pigeon::engine::test
