#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/model/model.hpp"
#include "engine/store/columns.hpp"
#include "engine/store/sqlite/database.hpp"

// Conversions between model types and their SQLite columns, shared by the sqlite_store sources.
namespace pigeon::engine::sqlite {

// The backend-neutral column conversions (engine/store/columns.hpp), under their old names.
using columns::final_states_sql;
using columns::json_to_object;
using columns::json_to_strings;
using columns::not_final_sql;
using columns::object_to_json;
using columns::read_state;
using columns::strings_to_json;
using columns::unstorable;
using columns::wall_clock_ms;

// A waiting message of alias `m`, exactly the filter of the messages_claimable partial index
// (migration 8): a query uses that index only when its WHERE holds this expression verbatim.
// OR-ed equalities rather than IN, as columns::not_final_sql explains (the filter is evaluated on every
// UPDATE of `state`).
inline constexpr const char* claimable_sql =
    "(m.state = 'scheduled' OR m.state = 'retry' OR m.state = 'deferred')";

// "SELECT m.id FROM campaign_heads h CROSS JOIN messages m ..." for the ids of the messages in
// `state` (a literal, e.g. "leased"): found per campaign through messages_by_state (campaign,
// state, ...), never by a scan of the queue. CROSS JOIN keeps campaign_heads the outer loop; left
// to itself the planner scans `messages` for states without an index of their own.
std::string ids_in_state_sql(std::string_view state);

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

}  // namespace pigeon::engine::sqlite
