#include "engine/store/sqlite/rows.hpp"

#include <spdlog/spdlog.h>

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cmath>

#include "engine/model/phone.hpp"
#include "engine/store/store.hpp"
#include "templates/utf8.hpp"

namespace pigeon::engine::sqlite {

namespace {

// The final states as SQL literals, each after `before`, joined by `separator`.
std::string join_final_states(std::string_view before, std::string_view separator) {
  std::string out;
  for (auto s : all_states) {
    if (!is_final(s)) continue;
    if (!out.empty()) out += separator;
    out += before;
    out += '\'';
    out += to_string(s);
    out += '\'';
  }
  return out;
}

}  // namespace

const std::string& final_states_sql() {
  static const std::string sql = join_final_states("", ", ");
  return sql;
}

std::string ids_in_state_sql(std::string_view state) {
  return "SELECT m.id FROM campaign_heads h CROSS JOIN messages m ON m.campaign = h.name AND "
         "m.state = '" +
         std::string(state) + "'";
}

const std::string& not_final_sql() {
  static const std::string sql = join_final_states("state <> ", " AND ");
  return sql;
}

std::string strings_to_json(const std::vector<std::string>& values) {
  boost::json::array array;
  for (const auto& v : values) array.emplace_back(v);
  return boost::json::serialize(array);
}

namespace {

// Parses a JSON array of strings into `out`, reusing its elements' storage.
void json_to_strings(std::string_view text, const char* what, std::vector<std::string>& out) {
  boost::system::error_code ec;
  auto value = boost::json::parse(text, ec);
  if (ec || !value.is_array())
    throw store_error(std::string("stored ") + what + " is not a JSON array");
  const auto& array = value.get_array();
  out.resize(array.size());
  for (std::size_t i = 0; i < array.size(); ++i) {
    if (!array[i].is_string())
      throw store_error(std::string("stored ") + what + " holds a non-string");
    out[i].assign(array[i].get_string());
  }
}

}  // namespace

std::vector<std::string> json_to_strings(std::string_view text, const char* what) {
  std::vector<std::string> out;
  json_to_strings(text, what, out);
  return out;
}

std::string object_to_json(const boost::json::object& value) {
  return boost::json::serialize(value);
}

boost::json::object json_to_object(std::string_view text, const char* what) {
  boost::system::error_code ec;
  auto value = boost::json::parse(text, ec);
  if (ec || !value.is_object())
    throw store_error(std::string("stored ") + what + " is not a JSON object");
  return std::move(value.get_object());
}

contact read_contact(const query& q, int first) {
  contact c;
  read_contact_into(q, first, c);
  return c;
}

void read_contact_into(const query& q, int first, contact& c) {
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

std::optional<std::string> unstorable(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::double_:
      if (!std::isfinite(v.get_double())) return "a number JSON cannot hold";
      return std::nullopt;
    case boost::json::kind::string:
      if (templates::first_invalid_utf8(v.get_string())) return "invalid UTF-8";
      return std::nullopt;
    case boost::json::kind::array:
      for (const auto& item : v.get_array())
        if (auto why = unstorable(item)) return why;
      return std::nullopt;
    case boost::json::kind::object:
      return unstorable(v.get_object());
    default:
      return std::nullopt;
  }
}

std::optional<std::string> unstorable(const boost::json::object& object) {
  for (const auto& [key, item] : object) {
    if (templates::first_invalid_utf8(key)) return "invalid UTF-8";
    if (auto why = unstorable(item)) return why;
  }
  return std::nullopt;
}

message_state read_state(const std::string& text) {
  auto s = parse_state(text);
  if (!s) throw store_error("stored message state '" + text + "' is unknown");
  return *s;
}

std::int64_t wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void for_each_contact_row(query& q, const std::function<void(const contact&)>& fn) {
  contact c;  // reused: its strings keep their storage from row to row
  while (q.step()) {
    try {
      read_contact_into(q, 0, c);
    } catch (const store_error& e) {
      spdlog::warn("skipped {}", e.what());
      continue;
    }
    fn(c);
  }
}

}  // namespace pigeon::engine::sqlite
