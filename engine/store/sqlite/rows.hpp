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
using columns::keywords_from_json;
using columns::keywords_to_json;
using columns::not_final_sql;
using columns::object_to_json;
using columns::read_state;
using columns::strings_to_json;
using columns::unstorable;
using columns::wall_clock_ms;

// "SELECT m.id FROM campaign_heads h CROSS JOIN messages m ..." for the ids of the messages in
// `state` (a literal, e.g. "leased"): found per campaign through messages_by_state (campaign,
// state, ...), never by a scan of the queue. CROSS JOIN keeps campaign_heads the outer loop; left
// to itself the planner scans `messages` for states without an index of their own.
std::string ids_in_state_sql(std::string_view state);

// Contacts read the same on every backend (engine/store/columns.hpp).
using columns::claimable_sql;
using columns::contact_columns;
using columns::for_each_contact_row;
using columns::live_contact_sql;
using columns::read_contact;
using columns::read_contact_into;

}  // namespace pigeon::engine::sqlite
