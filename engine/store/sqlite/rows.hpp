#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/model/model.hpp"
#include "engine/store/sqlite/database.hpp"

// Conversions between model types and their SQLite columns, shared by the sqlite_store sources.
namespace pigeon::engine::sqlite {

// "'delivered', 'undelivered', ..." for `state IN (...)`, derived from is_final().
const std::string& final_states_sql();
// "state <> 'delivered' AND state <> 'undelivered' AND ...": not final, for statements run once
// per message. SQLite evaluates a constant `IN` list of three or more values by building a
// temporary b-tree at every execution of the statement; `<>`/`=` chains cost nothing extra.
const std::string& not_final_sql();

// A waiting message of alias `m`, exactly the filter of the messages_claimable partial index
// (migration 8): a query uses that index only when its WHERE holds this expression verbatim.
// OR-ed equalities rather than IN for the reason above (the index filter is evaluated on every
// UPDATE of `state`).
inline constexpr const char* claimable_sql =
    "(m.state = 'scheduled' OR m.state = 'retry' OR m.state = 'deferred')";

// "SELECT m.id FROM campaign_heads h CROSS JOIN messages m ..." for the ids of the messages in
// `state` (a literal, e.g. "leased"): found per campaign through messages_by_state (campaign,
// state, ...), never by a scan of the queue. CROSS JOIN keeps campaign_heads the outer loop; left
// to itself the planner scans `messages` for states without an index of their own.
std::string ids_in_state_sql(std::string_view state);

std::string strings_to_json(const std::vector<std::string>& values);
// Throws store_error when `text` is not a JSON array of strings (`what` names the column).
std::vector<std::string> json_to_strings(std::string_view text, const char* what);
std::string object_to_json(const boost::json::object& value);
boost::json::object json_to_object(std::string_view text, const char* what);

// The contact of alias `k` is not an erased one (a tombstone: store::erased_phone_prefix).
inline constexpr const char* live_contact_sql = "substr(k.phone, 1, 7) <> 'erased:'";

// The contact columns "id, phone, tags, attributes, tz" starting at column `first`.
inline constexpr const char* contact_columns = "k.id, k.phone, k.tags, k.attributes, k.tz";
contact read_contact(const query& q, int first);
// The same into an existing contact, reusing its strings' and tags' storage (a scan's loop).
// Throws store_error naming the contact (masked phone, id) when its tags or attributes do not
// decode; a scan skips such a row with a warning rather than stopping.
void read_contact_into(const query& q, int first, contact& c);
// Steps `q` (contact_columns first) and calls `fn` per contact, one contact object reused from
// row to row (valid during the call only). A row that does not decode is skipped and logged:
// one bad row never stops a scan (validate, plan, apply, journeys).
void for_each_contact_row(query& q, const std::function<void(const contact&)>& fn);

// Why `value` would not read back once serialized (a NaN or infinite number, invalid UTF-8 in
// a string or key), or nullopt. Writers check this so nothing stored can stop a later read.
std::optional<std::string> unstorable(const boost::json::value& value);
std::optional<std::string> unstorable(const boost::json::object& object);

// Throws store_error when `text` is not a state name.
message_state read_state(const std::string& text);

// The wall clock, for audit columns (created_at/updated_at) where the caller gives no time.
std::int64_t wall_clock_ms();

}  // namespace pigeon::engine::sqlite
