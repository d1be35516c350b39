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
using columns::not_final_sql;
using columns::object_to_json;
using columns::read_state;
using columns::strings_to_json;
using columns::unstorable;
using columns::wall_clock_ms;

// A waiting message of alias `m`: the filter of the messages_claimable partial index.
inline constexpr const char* claimable_sql =
    "(m.state = 'scheduled' OR m.state = 'retry' OR m.state = 'deferred')";

// The contact of alias `k` is not an erased one (a tombstone: store::erased_phone_prefix).
inline constexpr const char* live_contact_sql = "substr(k.phone, 1, 7) <> 'erased:'";

// The contact columns "id, phone, tags, attributes, tz" starting at column `first`.
inline constexpr const char* contact_columns = "k.id, k.phone, k.tags, k.attributes, k.tz";
contact read_contact(const query& q, int first);
// The same into an existing contact, reusing its storage. Throws store_error naming the contact
// (masked phone, id) when its tags or attributes do not decode.
void read_contact_into(const query& q, int first, contact& c);
// Steps `q` (contact_columns first) and calls `fn` per contact (one object reused from row to
// row, valid during the call only). A row that does not decode is skipped and logged.
void for_each_contact_row(query& q, const std::function<void(const contact&)>& fn);

}  // namespace pigeon::engine::postgres
