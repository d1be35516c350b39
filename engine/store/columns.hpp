#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/model/model.hpp"
#include "engine/model/phone.hpp"
#include "engine/store/transactions.hpp"

// How model values are written into columns, the same for every backend (SQLite and
// PostgreSQL store lists and objects as JSON text, states as their names, times as integer
// milliseconds): the conversions both backends' row code uses.
namespace pigeon::engine::columns {

// "'delivered', 'undelivered', ..." for `state IN (...)`, derived from is_final().
const std::string& final_states_sql();
// "state <> 'delivered' AND state <> 'undelivered' AND ...": not final, for statements run once
// per message. SQLite evaluates a constant `IN` list of three or more values by building a
// temporary b-tree at every execution of the statement; `<>`/`=` chains cost nothing extra.
const std::string& not_final_sql();

std::string strings_to_json(const std::vector<std::string>& values);
// Throws store_error when `text` is not a JSON array of strings (`what` names the column).
std::vector<std::string> json_to_strings(std::string_view text, const char* what);
// The same into `out`, reusing its elements' storage (a scan's loop).
void json_to_strings(std::string_view text, const char* what, std::vector<std::string>& out);
std::string object_to_json(const boost::json::object& value);
boost::json::object json_to_object(std::string_view text, const char* what);

// Why `value` would not read back once serialized (a NaN or infinite number, invalid UTF-8 in
// a string or key), or nullopt. Writers check this so nothing stored can stop a later read.
std::optional<std::string> unstorable(const boost::json::value& value);
std::optional<std::string> unstorable(const boost::json::object& object);

// A campaign's reply keywords (campaign_replies.keywords) as a JSON array of objects, and back.
// Reading throws store_error when `text` is not a JSON array; unknown or missing fields read as
// empty, so rows written by an older pigeon still load.
std::string keywords_to_json(const std::vector<reply_keyword>& keywords);
std::vector<reply_keyword> keywords_from_json(std::string_view text);

// Throws store_error when `text` is not a state name.
message_state read_state(const std::string& text);

// The wall clock, for audit columns (created_at/updated_at) where the caller gives no time.
std::int64_t wall_clock_ms();

// A waiting message of alias `m`, exactly the filter of the messages_claimable partial index
// (SQLite migration 8, PostgreSQL migration 1): a query uses that index only when its WHERE holds
// this expression verbatim. OR-ed equalities rather than IN, as not_final_sql explains (the
// filter is evaluated on every UPDATE of `state`).
inline constexpr const char* claimable_sql =
    "(m.state = 'scheduled' OR m.state = 'retry' OR m.state = 'deferred')";

// The contact of alias `k` is not an erased one (a tombstone: store::erased_phone_prefix).
inline constexpr const char* live_contact_sql = "substr(k.phone, 1, 7) <> 'erased:'";

// The contact columns "id, phone, tags, attributes, tz" of alias `k`, in this order.
inline constexpr const char* contact_columns = "k.id, k.phone, k.tags, k.attributes, k.tz";
// The contact columns starting at column `first` of a backend's query (sqlite::query,
// postgres::query: get_int, get_view) into `c`, reusing its strings' and tags' storage (a scan's
// loop). Throws store_error naming the contact (masked phone, id) when its tags or attributes
// do not decode.
template <typename Query>
void read_contact_into(const Query& q, int first, contact& c) {
  c.id = q.get_int(first);
  c.phone.assign(q.get_view(first + 1));
  try {
    json_to_strings(q.get_view(first + 2), "tags", c.tags);
    c.attributes = json_to_object(q.get_view(first + 3), "attributes");
  } catch (const store_error& e) {
    // Named, with what to do: NaN, Infinity or invalid UTF-8 stored by an older pigeon.
    throw store_error("contact " + mask_phone(c.phone) + " (id " + std::to_string(c.id) +
                      ") cannot be read: " + e.what() +
                      " (NaN, Infinity or invalid UTF-8 stored by an older pigeon); import "
                      "the contact again to repair it");
  }
  c.tz.assign(q.get_view(first + 4));
}
template <typename Query>
contact read_contact(const Query& q, int first) {
  contact c;
  read_contact_into(q, first, c);
  return c;
}
// Steps `q` (contact_columns first) and calls `fn` per contact, one contact object reused from
// row to row (valid during the call only). A row that does not decode is skipped and logged:
// one bad row never stops a scan (validate, plan, apply, journeys).
void log_skipped_contact(const store_error& e);
template <typename Query>
void for_each_contact_row(Query& q, const std::function<void(const contact&)>& fn) {
  contact c;  // reused: its strings keep their storage from row to row
  while (q.step()) {
    try {
      read_contact_into(q, 0, c);
    } catch (const store_error& e) {
      log_skipped_contact(e);
      continue;
    }
    fn(c);
  }
}

// The replies columns a reply_row reads, in this order (contact and message ids 0 when NULL).
inline constexpr const char* reply_columns =
    "id, provider, carrier_id, phone, COALESCE(contact_id, 0), to_number, text, normalized, "
    "campaign, COALESCE(message_id, 0), keyword, action, nps_score, at";
template <typename Query>
reply_row read_reply(const Query& q) {
  reply_row r;
  r.id = q.get_int(0);
  r.provider = q.get_text(1);
  r.carrier_id = q.get_text(2);
  r.phone = q.get_text(3);
  r.contact_id = q.get_int(4);
  r.to = q.get_text(5);
  r.text = q.get_text(6);
  r.normalized = q.get_text(7);
  r.campaign = q.get_text(8);
  r.message_id = q.get_int(9);
  r.keyword = q.get_text(10);
  r.action = q.get_text(11);
  if (!q.is_null(12)) r.nps_score = static_cast<int>(q.get_int(12));
  r.at = q.get_time(13);
  return r;
}

// The events columns a contact_event reads, in this order.
inline constexpr const char* event_columns = "id, name, contact_id, properties, at, received_at";
// nullopt, logged, for properties that do not decode (NaN, Infinity stored by an older pigeon):
// skipped by the reader, never fatal.
void log_skipped_event(const contact_event& e, const store_error& error);
template <typename Query>
std::optional<contact_event> read_event(const Query& q) {
  contact_event e;
  e.id = q.get_int(0);
  e.name = q.get_text(1);
  e.contact_id = q.get_int(2);
  try {
    e.properties = json_to_object(q.get_view(3), "event properties");
  } catch (const store_error& error) {
    log_skipped_event(e, error);
    return std::nullopt;
  }
  e.at = q.get_time(4);
  e.received_at = q.get_time(5);
  return e;
}

// The p_value column: text ("%.6g"), so both backends store the same digits.
std::optional<std::string> p_value_to_text(std::optional<double> p);
double p_value_from_text(const std::string& text);
// The statistics of `variant` in `stats`, appended (empty) when not there yet.
variant_stats& variant_entry(std::vector<variant_stats>& stats, const std::string& variant);
// A/B tests (ab.cpp of each backend): the row of ab_tests as both select it: campaign, metric,
// decide_after_ms, first_send_at, decided_at, winner, runner_up, p_value, reason, switched,
// min_per_variant, sample_percent, next_check_at; `Query` is either backend's query.
template <typename Query>
ab_decision read_ab_row(const Query& q) {
  ab_decision d;
  d.campaign = q.get_text(0);
  d.metric = q.get_text(1);
  d.decide_after = std::chrono::milliseconds(q.get_int(2));
  d.first_send = q.get_opt_time(3);
  d.decided_at = q.get_opt_time(4);
  d.winner = q.get_text(5);
  d.runner_up = q.get_text(6);
  if (auto p = q.get_opt_text(7)) d.p_value = p_value_from_text(*p);
  d.reason = q.get_text(8);
  d.switched = q.get_int(9);
  d.min_per_variant = q.get_int(10);
  d.sample_percent = static_cast<int>(q.get_int(11));
  d.next_check = q.get_opt_time(12);
  return d;
}

}  // namespace pigeon::engine::columns
