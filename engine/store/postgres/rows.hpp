#pragma once

#include <functional>
#include <string>

#include "engine/model/model.hpp"
#include "engine/store/columns.hpp"
#include "engine/store/postgres/connection.hpp"

// Conversions between model types and their PostgreSQL columns, shared by the postgres_store
// sources (the column encodings themselves are engine/store/columns.hpp, as SQLite's).
namespace pigeon::engine::postgres {

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

// Contacts read the same on every backend (engine/store/columns.hpp).
using columns::claimable_sql;
using columns::contact_columns;
using columns::for_each_contact_row;
using columns::live_contact_sql;
using columns::read_contact;
using columns::read_contact_into;

}  // namespace pigeon::engine::postgres
