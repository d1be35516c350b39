#include "engine/store/columns.hpp"

#include <spdlog/spdlog.h>

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>

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

std::string keywords_to_json(const std::vector<reply_keyword>& keywords) {
  boost::json::array out;
  for (const auto& k : keywords) {
    out.push_back(boost::json::object{{"keyword", k.keyword},
                                      {"normalized", k.normalized},
                                      {"tag", k.tag},
                                      {"respond", k.respond},
                                      {"action", k.action},
                                      {"step", k.step},
                                      {"step_at", k.step_at},
                                      {"step_variant", k.step_variant},
                                      {"max", k.max},
                                      {"per_seconds", k.per.count()}});
  }
  return boost::json::serialize(out);
}

std::vector<reply_keyword> keywords_from_json(std::string_view text) {
  std::vector<reply_keyword> out;
  boost::system::error_code ec;
  auto value = boost::json::parse(text, ec);
  if (ec || !value.is_array()) throw store_error("stored campaign reply keywords are not JSON");
  auto str = [](const boost::json::object& o, const char* key) {
    auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  auto num = [](const boost::json::object& o, const char* key) {
    auto* v = o.if_contains(key);
    return v && v->is_int64() ? v->as_int64() : std::int64_t{0};
  };
  for (const auto& item : value.as_array()) {
    if (!item.is_object()) continue;
    const auto& o = item.as_object();
    reply_keyword k;
    k.keyword = str(o, "keyword");
    k.normalized = str(o, "normalized");
    k.tag = str(o, "tag");
    k.respond = str(o, "respond");
    k.action = str(o, "action");
    k.step = str(o, "step");
    k.step_at = str(o, "step_at");
    k.step_variant = str(o, "step_variant");
    k.max = static_cast<int>(num(o, "max"));
    k.per = std::chrono::seconds(num(o, "per_seconds"));
    out.push_back(std::move(k));
  }
  return out;
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

void log_skipped_event(const contact_event& e, const store_error& error) {
  spdlog::warn("skipped event {} ({}): {}", e.id, e.name, error.what());
}

std::optional<std::string> p_value_to_text(std::optional<double> p) {
  if (!p) return std::nullopt;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", *p);
  return std::string(buf);
}

double p_value_from_text(const std::string& text) { return std::strtod(text.c_str(), nullptr); }

variant_stats& variant_entry(std::vector<variant_stats>& stats, const std::string& variant) {
  for (auto& v : stats)
    if (v.variant == variant) return v;
  variant_stats fresh;
  fresh.variant = variant;
  stats.push_back(std::move(fresh));
  return stats.back();
}

}  // namespace pigeon::engine::columns
