#pragma once

#include <set>
#include <string>

#include "engine/model/model.hpp"
#include "engine/store/columns.hpp"

// Campaign and claimed-message rows, selected and read the same by both backends (SQLite and
// PostgreSQL: engine/store/*/sqlite_store.cpp, queue.cpp). `Query` is either backend's query.
namespace pigeon::engine::columns {

// The columns read_campaign_row reads, of campaigns `c` and campaign_heads `h`.
inline constexpr const char* campaign_columns =
    "c.name, c.version, c.content_hash, c.sender, c.category, c.priority, h.state, "
    "c.source_path, c.source_text, c.applied_at, c.stop_on";

template <typename Query>
stored_campaign read_campaign_row(const Query& q) {
  stored_campaign c;
  c.name = q.get_text(0);
  c.version = static_cast<int>(q.get_int(1));
  c.content_hash = q.get_text(2);
  c.sender = q.get_text(3);
  c.category = q.get_text(4);
  c.priority = static_cast<int>(q.get_int(5));
  c.state = q.get_text(6);
  c.source_path = q.get_text(7);
  c.source_text = q.get_text(8);
  c.applied_at = q.get_time(9);
  c.stop_on = json_to_strings(q.get_text(10), "campaign stop_on");
  return c;
}

// The columns read_template_row reads, of campaign_templates.
inline constexpr const char* template_columns =
    "step, variant, weight, kind, text, subject, media, window_days, window_between";

template <typename Query>
campaign_template read_template_row(const Query& t) {
  campaign_template tmpl;
  tmpl.step = t.get_text(0);
  tmpl.variant = t.get_text(1);
  tmpl.weight = static_cast<int>(t.get_int(2));
  tmpl.kind = t.get_text(3);
  tmpl.text = t.get_text(4);
  tmpl.subject = t.get_text(5);
  tmpl.media = json_to_strings(t.get_text(6), "template media");
  if (auto days = t.get_opt_text(7)) {
    tmpl.has_window = true;
    tmpl.window_days = json_to_strings(*days, "template window");
    tmpl.window_between = t.get_text(8);
  }
  return tmpl;
}

// Throws store_error unless `state` is a campaign state.
inline void check_campaign_state(const std::string& state) {
  static const std::set<std::string> valid = {"active", "paused", "cancelled"};
  if (!valid.contains(state)) {
    throw store_error("campaign state '" + state + "' is not one of active, paused, cancelled");
  }
}

// "SELECT ... FROM messages m JOIN ..." of a claimed message with its campaign head, template
// and recipient, up to its WHERE (each backend names its claimed ids its own way); read by
// read_claimed_row.
inline const std::string& claimed_select_sql() {
  static const std::string sql =
      std::string("SELECT m.id, m.campaign, h.version, m.step, m.variant, c.sender, c.category, ") +
      "m.attempts, m.due_at, m.expires_at, t.step IS NOT NULL OR m.direct_text IS NOT NULL, "
      "COALESCE(t.weight, 100), COALESCE(t.kind, 'sms'), COALESCE(m.direct_text, t.text), "
      "COALESCE(t.subject, ''), COALESCE(t.media, '[]'), " +
      contact_columns + ", t.window_days, t.window_between, m.direct_text IS NOT NULL, " +
      "k.opted_out_at IS NOT NULL AND m.direct_text IS NULL, m.occurrence, m.context " +
      "FROM messages m "
      "JOIN campaign_heads h ON h.name = m.campaign "
      "JOIN campaigns c ON c.name = h.name AND c.version = h.version "
      "JOIN contacts k ON k.id = m.contact_id "
      "LEFT JOIN campaign_templates t ON t.campaign = h.name AND t.version = h.version "
      "  AND t.step = m.step AND t.variant = m.variant ";
  return sql;
}

// A row of claimed_select_sql into a message; throws store_error when it does not decode.
template <typename Query>
claimed_message read_claimed_row(const Query& q) {
  claimed_message m;
  m.id = q.get_int(0);
  m.campaign = q.get_text(1);
  m.campaign_version = static_cast<int>(q.get_int(2));
  m.step = q.get_text(3);
  m.variant = q.get_text(4);
  m.sender = q.get_text(5);
  m.category = q.get_text(6);
  m.attempts = static_cast<int>(q.get_int(7));
  m.due = q.get_time(8);
  m.expires = q.get_opt_time(9);
  m.template_found = q.get_int(10) != 0;
  if (m.template_found) {
    m.tmpl.step = m.step;
    m.tmpl.variant = m.variant;
    m.tmpl.weight = static_cast<int>(q.get_int(11));
    m.tmpl.kind = q.get_text(12);
    m.tmpl.text = q.get_text(13);
    m.tmpl.subject = q.get_text(14);
    m.tmpl.media = json_to_strings(q.get_text(15), "template media");
  }
  m.recipient = read_contact(q, 16);
  if (auto days = q.get_opt_text(21)) {
    m.tmpl.has_window = true;
    m.tmpl.window_days = json_to_strings(*days, "template window");
    m.tmpl.window_between = q.get_text(22);
  }
  // A direct message (a reply) is transactional whatever its campaign's category.
  if (q.get_int(23) != 0) m.category = "transactional";
  m.occurrence = q.get_text(25);
  if (auto context = q.get_opt_text(26)) m.context = json_to_object(*context, "context");
  return m;
}

// An outcome that is the carrier's word on a sent message (not a retry, deferral or suppression).
inline bool is_carrier_verdict(message_state s) {
  return s == message_state::submitted || s == message_state::delivered ||
         s == message_state::undelivered || s == message_state::failed;
}

}  // namespace pigeon::engine::columns
