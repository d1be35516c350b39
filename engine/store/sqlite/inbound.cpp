// sqlite_store: delivery receipts, opt-out, replies, preferences and integrator events.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>

#include "engine/store/receipts.hpp"
#include "engine/store/sqlite/database.hpp"
#include "engine/store/sqlite/rows.hpp"
#include "engine/store/sqlite/sqlite_store.hpp"

namespace pigeon::engine::sqlite {

namespace {

// The states a queued campaign message waits in; an opt-out suppresses them.
constexpr const char* waiting_states = "('scheduled', 'deferred', 'retry', 'leased')";

}  // namespace

void sqlite_store::save_replies(const std::string& campaign, int version,
                                const reply_config& replies) {
  query(*db_,
        "INSERT INTO campaign_replies (campaign, version, valid_for_ms, keywords) "
        "VALUES (?1, ?2, ?3, ?4)")
      .bind(1, campaign)
      .bind(2, version)
      .bind(3, static_cast<std::int64_t>(replies.valid_for.count()))
      .bind(4, sqlite::keywords_to_json(replies.keywords))
      .run();
}

bool sqlite_store::suppress_opted_out(std::int64_t message_id, time_point now) {
  query q(*db_,
          "UPDATE messages SET state = 'suppressed', reason = 'opted out', final_at = ?2, "
          "lease_owner = NULL, lease_until = NULL, updated_at = ?2 "
          "WHERE id = ?1 AND direct_text IS NULL AND (state = 'leased' OR state = 'scheduled' "
          "OR state = 'deferred' OR state = 'retry') "
          "AND EXISTS (SELECT 1 FROM contacts k WHERE k.id = messages.contact_id "
          "AND k.opted_out_at IS NOT NULL)");
  q.bind(1, message_id).bind(2, now);
  q.run();
  return db_->changes() > 0;
}

receipt_effect sqlite_store::record_receipt(const receipt& r) {
  receipt_effect effect = receipt_effect::unknown_message;
  atomically("record receipt", [&] {
    assert(receipts::is_carrier_state(r.state));
    std::string key = receipts::dedupe_key(r);
    // Find the message: pigeon's id first, then the carrier's id for this provider.
    std::int64_t id = 0;
    std::optional<message_state> current;
    bool ever_submitted = false;
    // Two lookups rather than one OR, so each uses its index (primary key, by carrier id).
    auto find = [&](const std::string& sql, auto&&... binds) {
      query q(*db_, sql);
      int index = 0;
      ((q.bind(++index, binds)), ...);
      if (!q.step()) return false;
      id = q.get_int(0);
      current = sqlite::read_state(q.get_text(1));
      ever_submitted = q.get_int(2) != 0;
      return true;
    };
    const std::string columns = "SELECT id, state, maybe_duplicate OR attempts > 0 FROM messages ";
    // A receipt only speaks for messages its own provider was asked to send: an id that another
    // provider's endpoint names (forged, or a carrier echoing foreign ids) matches nothing.
    bool found = r.message_id > 0 && find(columns +
                                              "WHERE id = ?1 AND EXISTS (SELECT 1 FROM send_ledger "
                                              "WHERE message_id = ?1 AND provider = ?2)",
                                          r.message_id, r.provider);
    if (!found && !r.carrier_id.empty()) {
      find(columns +
               "WHERE provider = ?1 AND carrier_id = ?2 AND carrier_id <> '' "
               "ORDER BY id DESC LIMIT 1",
           r.provider, r.carrier_id);
    }
    effect = receipts::effect_on(current, ever_submitted, r.state);
    query ins(*db_,
              "INSERT INTO receipts (provider, dedupe_key, carrier_id, message_id, status, state, "
              "error_code, error_text, at, received_at, effect) "
              "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
              "ON CONFLICT (provider, dedupe_key, status) DO NOTHING");
    ins.bind(1, r.provider).bind(2, key).bind(3, r.carrier_id);
    ins.bind(4, id > 0 ? std::optional<std::int64_t>(id) : std::nullopt);
    ins.bind(5, r.status).bind(6, to_string(r.state)).bind(7, r.error_code);
    ins.bind(8, r.error_text).bind(9, r.at).bind(10, r.received_at);
    ins.bind(11, to_string(effect));
    ins.run();
    if (db_->changes() == 0) {
      effect = receipt_effect::duplicate;
      return;
    }
    if (effect != receipt_effect::applied && effect != receipt_effect::reconciled) return;
    auto state = std::string(to_string(r.state));
    auto reason = receipts::reason(r, effect);
    query(*db_,
          "UPDATE messages SET state = ?2, "
          "carrier_id = CASE WHEN ?3 <> '' THEN ?3 ELSE carrier_id END, "
          "provider = CASE WHEN ?4 <> '' AND provider = '' THEN ?4 ELSE provider END, "
          "reason = CASE WHEN ?5 <> '' THEN ?5 ELSE reason END, "
          "sent_at = COALESCE(sent_at, ?6), "
          "final_at = CASE WHEN ?7 THEN ?6 ELSE final_at END, "
          "reconciled_at = CASE WHEN ?8 THEN ?6 ELSE reconciled_at END, "
          "lease_owner = NULL, lease_until = NULL, updated_at = ?6 WHERE id = ?1")
        .bind(1, id)
        .bind(2, state)
        .bind(3, r.carrier_id)
        .bind(4, r.provider)
        .bind(5, reason)
        .bind(6, r.received_at)
        .bind(7, is_final(r.state) ? 1 : 0)
        .bind(8, effect == receipt_effect::reconciled ? 1 : 0)
        .run();
    // The attempt whose outcome was unknown or pending now has one.
    query(*db_,
          "UPDATE send_ledger SET outcome = ?2, "
          "carrier_id = CASE WHEN ?3 <> '' THEN ?3 ELSE carrier_id END "
          "WHERE id = (SELECT max(id) FROM send_ledger WHERE message_id = ?1 AND provider = ?4) "
          "AND outcome IN ('pending', 'unknown', 'submitted', 'retry')")
        .bind(1, id)
        .bind(2, state)
        .bind(3, r.carrier_id)
        .bind(4, r.provider)
        .run();
  });
  return effect;
}

std::int64_t sqlite_store::ensure_contact(const std::string& phone, time_point now) {
  std::int64_t id = 0;
  atomically("ensure contact", [&] {
    query(*db_,
          "INSERT INTO contacts (phone, created_at, updated_at) VALUES (?1, ?2, ?2) "
          "ON CONFLICT (phone) DO NOTHING")
        .bind(1, phone)
        .bind(2, now)
        .run();
    query q(*db_, "SELECT id FROM contacts WHERE phone = ?1");
    q.bind(1, phone);
    if (!q.step()) throw store_error("contact " + phone + " vanished");
    id = q.get_int(0);
  });
  return id;
}

std::size_t sqlite_store::opt_out(std::int64_t contact_id, const std::string& source,
                                  time_point now) {
  std::size_t suppressed = 0;
  atomically("opt out", [&] {
    query(*db_,
          "UPDATE contacts SET opted_out_at = COALESCE(opted_out_at, ?2), opt_out_source = ?3, "
          "updated_at = ?2 WHERE id = ?1")
        .bind(1, contact_id)
        .bind(2, now)
        .bind(3, source)
        .run();
    query(*db_, std::string("UPDATE messages SET state = 'suppressed', reason = 'opted out', "
                            "final_at = ?2, lease_owner = NULL, lease_until = NULL, "
                            "updated_at = ?2 WHERE contact_id = ?1 AND direct_text IS NULL "
                            "AND state IN ") +
                    waiting_states)
        .bind(1, contact_id)
        .bind(2, now)
        .run();
    suppressed = static_cast<std::size_t>(db_->changes());
  });
  return suppressed;
}

bool sqlite_store::opt_in(std::int64_t contact_id, time_point now) {
  bool changed = false;
  atomically("opt in", [&] {
    query(*db_,
          "UPDATE contacts SET opted_out_at = NULL, opt_out_source = '', updated_at = ?2 "
          "WHERE id = ?1 AND opted_out_at IS NOT NULL")
        .bind(1, contact_id)
        .bind(2, now)
        .run();
    changed = db_->changes() > 0;
  });
  return changed;
}

std::optional<time_point> sqlite_store::opted_out_at(std::int64_t contact_id) {
  std::optional<time_point> at;
  atomically("read opt-out", [&] {
    query q(*db_, "SELECT opted_out_at FROM contacts WHERE id = ?1");
    q.bind(1, contact_id);
    if (q.step()) at = q.get_opt_time(0);
  });
  return at;
}

std::optional<reply_attribution> sqlite_store::attribute_reply(std::int64_t contact_id,
                                                               time_point now) {
  std::optional<reply_attribution> found;
  atomically("attribute reply", [&] {
    // The most recent campaign message sent to the contact, among campaigns (current version)
    // that take replies and whose valid_for still covers it.
    query q(*db_,
            "SELECT m.id, m.campaign, h.version, c.sender, m.sent_at, r.valid_for_ms, r.keywords, "
            "m.occurrence, coalesce(m.context, '') "
            "FROM messages m "
            "JOIN campaign_heads h ON h.name = m.campaign "
            "JOIN campaigns c ON c.name = h.name AND c.version = h.version "
            "JOIN campaign_replies r ON r.campaign = h.name AND r.version = h.version "
            "WHERE m.contact_id = ?1 AND m.sent_at IS NOT NULL AND m.direct_text IS NULL "
            "AND m.sent_at <= ?2 AND m.sent_at + r.valid_for_ms >= ?2 "
            "ORDER BY m.sent_at DESC, m.id DESC LIMIT 1");
    q.bind(1, contact_id).bind(2, now);
    if (!q.step()) return;
    reply_attribution a;
    a.message_id = q.get_int(0);
    a.campaign = q.get_text(1);
    a.version = static_cast<int>(q.get_int(2));
    a.sender = q.get_text(3);
    a.sent_at = q.get_time(4);
    a.replies.valid_for = std::chrono::milliseconds(q.get_int(5));
    a.replies.keywords = sqlite::keywords_from_json(q.get_text(6));
    a.occurrence = q.get_text(7);
    a.context = q.get_text(8);
    found = std::move(a);
  });
  return found;
}

std::optional<std::pair<std::string, std::string>> sqlite_store::last_sender(
    std::int64_t contact_id) {
  std::optional<std::pair<std::string, std::string>> found;
  atomically("find last sender", [&] {
    query q(*db_,
            "SELECT m.campaign, c.sender FROM messages m "
            "JOIN campaign_heads h ON h.name = m.campaign "
            "JOIN campaigns c ON c.name = h.name AND c.version = h.version "
            "WHERE m.contact_id = ?1 ORDER BY m.sent_at IS NULL, m.sent_at DESC, m.id DESC "
            "LIMIT 1");
    q.bind(1, contact_id);
    if (q.step()) found.emplace(q.get_text(0), q.get_text(1));
  });
  return found;
}

void sqlite_store::add_tag(std::int64_t contact_id, const std::string& tag, time_point now) {
  atomically("tag contact", [&] {
    std::vector<std::string> tags;
    {
      query q(*db_, "SELECT tags FROM contacts WHERE id = ?1");
      q.bind(1, contact_id);
      if (!q.step()) return;
      try {
        tags = sqlite::json_to_strings(q.get_text(0), "contact tags");
      } catch (const store_error& e) {
        // Written by an older pigeon: the tags were unreadable anyway; this write repairs them.
        spdlog::warn("contact id {}: {}; its tags are replaced by [{}]", contact_id, e.what(), tag);
      }
    }
    if (std::find(tags.begin(), tags.end(), tag) != tags.end()) return;
    tags.push_back(tag);
    query(*db_, "UPDATE contacts SET tags = ?2, updated_at = ?3 WHERE id = ?1")
        .bind(1, contact_id)
        .bind(2, sqlite::strings_to_json(tags))
        .bind(3, now)
        .run();
  });
}

void sqlite_store::set_preference(std::int64_t contact_id, const contact_preference& p,
                                  const std::string& source, time_point now) {
  atomically("set preference", [&] {
    query(*db_,
          "INSERT INTO contact_preferences (contact_id, max, per_seconds, source, updated_at) "
          "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (contact_id) DO UPDATE SET "
          "max = excluded.max, per_seconds = excluded.per_seconds, source = excluded.source, "
          "updated_at = excluded.updated_at")
        .bind(1, contact_id)
        .bind(2, p.max)
        .bind(3, static_cast<std::int64_t>(p.per.count()))
        .bind(4, source)
        .bind(5, now)
        .run();
  });
}

std::optional<contact_preference> sqlite_store::preference(std::int64_t contact_id) {
  std::optional<contact_preference> p;
  atomically("read preference", [&] {
    query q(*db_, "SELECT max, per_seconds FROM contact_preferences WHERE contact_id = ?1");
    q.bind(1, contact_id);
    if (q.step())
      p = contact_preference{static_cast<int>(q.get_int(0)), std::chrono::seconds(q.get_int(1))};
  });
  return p;
}

std::int64_t sqlite_store::enqueue_direct(const std::string& campaign, std::int64_t contact_id,
                                          std::int64_t reply_id, const std::string& text,
                                          time_point due) {
  std::int64_t id = 0;
  atomically("enqueue reply", [&] {
    query q(*db_,
            "INSERT INTO messages (campaign, step, variant, contact_id, state, due_at, "
            "expires_at, direct_text, created_at, updated_at) "
            "VALUES (?1, ?2, 'A', ?3, 'scheduled', ?4, ?5, ?6, ?4, ?4) "
            "ON CONFLICT (campaign, step, contact_id, occurrence) DO NOTHING RETURNING id");
    q.bind(1, campaign).bind(2, "reply:" + std::to_string(reply_id)).bind(3, contact_id);
    q.bind(4, due).bind(5, due + std::chrono::hours(24)).bind(6, text);
    if (q.step()) id = q.get_int(0);
  });
  return id;
}

std::int64_t sqlite_store::record_reply(const reply_row& r) {
  std::int64_t id = 0;
  atomically("record reply", [&] {
    query q(*db_,
            "INSERT INTO replies (provider, carrier_id, phone, contact_id, to_number, text, "
            "normalized, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
            "ON CONFLICT DO NOTHING RETURNING id");
    q.bind(1, r.provider).bind(2, r.carrier_id).bind(3, r.phone);
    q.bind(4, r.contact_id > 0 ? std::optional<std::int64_t>(r.contact_id) : std::nullopt);
    q.bind(5, r.to).bind(6, r.text).bind(7, r.normalized).bind(8, r.at);
    if (q.step()) id = q.get_int(0);
  });
  return id;
}

void sqlite_store::update_reply(const reply_row& r) {
  atomically("update reply", [&] {
    query q(*db_,
            "UPDATE replies SET campaign = ?2, message_id = ?3, keyword = ?4, action = ?5, "
            "nps_score = ?6 WHERE id = ?1");
    q.bind(1, r.id).bind(2, r.campaign);
    q.bind(3, r.message_id > 0 ? std::optional<std::int64_t>(r.message_id) : std::nullopt);
    q.bind(4, r.keyword).bind(5, r.action);
    q.bind(6, r.nps_score ? std::optional<std::int64_t>(*r.nps_score) : std::nullopt);
    q.run();
  });
}

std::vector<reply_row> sqlite_store::replies(const reply_filter& filter) {
  std::vector<reply_row> out;
  atomically("list replies", [&] {
    query q(*db_, std::string("SELECT ") + columns::reply_columns +
                      " FROM replies WHERE (?1 = '' OR campaign = ?1) AND (?2 IS NULL OR at >= ?2) "
                      "AND (?4 = 0 OR contact_id = ?4) ORDER BY at, id LIMIT ?3");
    q.bind(1, filter.campaign).bind(2, filter.since).bind(4, filter.contact_id);
    q.bind(3, filter.limit == 0 ? std::int64_t{-1} : static_cast<std::int64_t>(filter.limit));
    while (q.step()) out.push_back(columns::read_reply(q));
  });
  return out;
}

std::int64_t sqlite_store::record_event(const contact_event& e) {
  std::int64_t id = 0;
  if (auto why = sqlite::unstorable(e.properties))
    throw store_error("event " + e.name + ": a property holds " + *why);
  atomically("record event", [&] {
    query q(*db_,
            "INSERT INTO events (name, contact_id, properties, at, received_at) "
            "VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id");
    q.bind(1, e.name).bind(2, e.contact_id).bind(3, sqlite::object_to_json(e.properties));
    q.bind(4, e.at).bind(5, e.received_at);
    if (q.step()) id = q.get_int(0);
  });
  return id;
}

std::vector<contact_event> sqlite_store::events(std::int64_t contact_id, const std::string& name,
                                                time_point since) {
  std::vector<contact_event> out;
  atomically("list events", [&] {
    query q(*db_,
            std::string("SELECT ") + columns::event_columns +
                " FROM events "
                "WHERE contact_id = ?1 AND (?2 = '' OR name = ?2) AND at >= ?3 ORDER BY at, id");
    q.bind(1, contact_id).bind(2, name).bind(3, since);
    while (q.step()) {
      if (auto e = columns::read_event(q)) out.push_back(std::move(*e));
    }
  });
  return out;
}

}  // namespace pigeon::engine::sqlite
