#include "engine/store/columns.hpp"

#include <spdlog/spdlog.h>

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cmath>

#include "engine/store/transactions.hpp"
#include "templates/utf8.hpp"

namespace pigeon::engine::columns {

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

const std::string& not_final_sql() {
  static const std::string sql = join_final_states("state <> ", " AND ");
  return sql;
}

std::string strings_to_json(const std::vector<std::string>& values) {
  boost::json::array array;
  for (const auto& v : values) array.emplace_back(v);
  return boost::json::serialize(array);
}

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

void log_skipped_contact(const store_error& e) { spdlog::warn("skipped {}", e.what()); }

}  // namespace pigeon::engine::columns
