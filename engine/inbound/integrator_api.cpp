#include "engine/inbound/integrator_api.hpp"

#include <date/tz.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cmath>

#include "engine/campaign/journeys.hpp"
#include "engine/model/phone.hpp"

namespace pigeon::engine::inbound {

namespace asio = boost::asio;
namespace json = boost::json;
namespace http = boost::beast::http;

namespace {

bool valid_zone(const std::string& name) {
  try {
    return date::locate_zone(name) != nullptr;
  } catch (const std::exception&) {
    return false;
  }
}

std::string kind_of(const json::value& v) {
  switch (v.kind()) {
    case json::kind::object:
      return "an object";
    case json::kind::array:
      return "an array";
    case json::kind::string:
      return "a string";
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return "a boolean";
    default:
      return "a number";
  }
}

constexpr const char* too_large = "a number too large for JSON (over about 1.8e308)";

// The path under `where` of a number JSON cannot hold (the parser reads 1e999 as infinity, which
// would be stored as the invalid JSON `Infinity`), or nullopt.
std::optional<std::string> non_finite(const json::value& v, const std::string& where) {
  if (v.is_double() && !std::isfinite(v.get_double())) return where;
  if (v.is_object())
    for (const auto& [key, item] : v.get_object())
      if (auto p = non_finite(item, where + (where.empty() ? "" : ".") + std::string(key)))
        return p;
  if (v.is_array())
    for (std::size_t i = 0; i < v.get_array().size(); ++i)
      if (auto p = non_finite(v.get_array()[i], where + "[" + std::to_string(i) + "]")) return p;
  return std::nullopt;
}

std::optional<api_error> read_phone(const json::object& o, const std::string& where,
                                    std::string_view region, std::string& out,
                                    std::optional<std::string_view> tz = std::nullopt) {
  auto* v = o.if_contains("phone");
  if (!v) return api_error{where + "phone", "required"};
  if (!v->is_string()) return api_error{where + "phone", "expected a string, got " + kind_of(*v)};
  auto r = tz ? normalize_recipient(std::string(v->as_string()), region, *tz)
              : normalize_phone(std::string(v->as_string()), region);
  if (!r.error.empty()) return api_error{where + "phone", r.error};
  out = r.e164;
  return std::nullopt;
}

std::optional<api_error> check_keys(const json::object& o, const std::string& where,
                                    std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : o) {
    if (std::find(known.begin(), known.end(), std::string_view(key)) == known.end())
      return api_error{where + std::string(key), "unknown field"};
  }
  return std::nullopt;
}

std::variant<contact, api_error> read_contact(const json::value& v, const std::string& where,
                                              std::string_view region) {
  if (!v.is_object())
    return api_error{where.empty() ? "" : where.substr(0, where.size() - 1),
                     "expected an object, got " + kind_of(v)};
  const auto& o = v.as_object();
  if (auto e = check_keys(o, where, {"phone", "tags", "attributes", "tz"})) return *e;
  contact c;
  if (auto* tz = o.if_contains("tz")) {
    if (!tz->is_string()) return api_error{where + "tz", "expected a string"};
    c.tz = std::string(tz->as_string());
    if (!c.tz.empty() && !valid_zone(c.tz))
      return api_error{where + "tz", "'" + c.tz + "' is not an IANA time zone"};
  }
  if (auto e = read_phone(o, where, region, c.phone, c.tz)) return *e;
  if (auto* tags = o.if_contains("tags")) {
    if (!tags->is_array()) return api_error{where + "tags", "expected an array of strings"};
    for (std::size_t i = 0; i < tags->as_array().size(); ++i) {
      const auto& t = tags->as_array()[i];
      if (!t.is_string() || t.as_string().empty())
        return api_error{where + "tags[" + std::to_string(i) + "]", "expected a non-empty string"};
      c.tags.emplace_back(t.as_string());
    }
  }
  if (auto* attrs = o.if_contains("attributes")) {
    if (!attrs->is_object()) return api_error{where + "attributes", "expected an object"};
    for (const auto& [key, value] : attrs->as_object()) {
      if (value.is_object() || value.is_array())
        return api_error{where + "attributes." + std::string(key),
                         "expected a string, number or boolean, got " + kind_of(value)};
      if (non_finite(value, ""))
        return api_error{where + "attributes." + std::string(key), too_large};
      if (value.is_null()) continue;
      if (key.ends_with("_at")) {
        // A timestamp, as in the CSV: stored in ISO form so `<name>_days` and journeys read it.
        auto t = value.is_string() ? parse_iso(value.get_string()) : std::nullopt;
        if (!t)
          return api_error{where + "attributes." + std::string(key),
                           json::serialize(value) +
                               " is not an ISO 8601 date or time (e.g. 2026-11-11 or "
                               "2026-11-11T10:00:00+08:00)"};
        c.attributes[key] = format_iso(*t);
        continue;
      }
      c.attributes[key] = value;
    }
  }
  return c;
}

std::optional<json::value> parse_json(std::string_view body, api_error& error) {
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  if (ec) {
    error = {"", "the body is not JSON: " + ec.message()};
    return std::nullopt;
  }
  return v;
}

std::string error_json(const api_error& e) {
  return json::serialize(json::object{{"error", e.message}, {"field", e.field}});
}

}  // namespace

std::variant<std::vector<contact>, api_error> parse_contacts_body(std::string_view body,
                                                                  std::string_view region) {
  api_error error;
  auto v = parse_json(body, error);
  if (!v) return error;
  std::vector<contact> out;
  if (v->is_array()) {
    const auto& items = v->as_array();
    if (items.empty()) return api_error{"", "expected at least one contact"};
    for (std::size_t i = 0; i < items.size(); ++i) {
      auto c = read_contact(items[i], "[" + std::to_string(i) + "].", region);
      if (auto* e = std::get_if<api_error>(&c)) return *e;
      out.push_back(std::get<contact>(std::move(c)));
    }
  } else {
    auto c = read_contact(*v, "", region);
    if (auto* e = std::get_if<api_error>(&c)) return *e;
    out.push_back(std::get<contact>(std::move(c)));
  }
  return out;
}

std::variant<parsed_event, api_error> parse_event_body(std::string_view body,
                                                       std::string_view region, time_point now) {
  api_error error;
  auto v = parse_json(body, error);
  if (!v) return error;
  if (!v->is_object()) return api_error{"", "expected an object, got " + kind_of(*v)};
  const auto& o = v->as_object();
  if (auto e = check_keys(o, "", {"name", "phone", "properties", "at"})) return *e;
  parsed_event out;
  auto* name = o.if_contains("name");
  if (!name) return api_error{"name", "required"};
  if (!name->is_string() || name->as_string().empty())
    return api_error{"name", "expected a non-empty string"};
  out.event.name = std::string(name->as_string());
  if (auto e = read_phone(o, "", region, out.phone)) return *e;
  if (auto* props = o.if_contains("properties")) {
    if (!props->is_object()) return api_error{"properties", "expected an object"};
    if (auto path = non_finite(*props, "properties")) return api_error{*path, too_large};
    out.event.properties = props->as_object();
  }
  out.event.at = now;
  out.event.received_at = now;
  if (auto* at = o.if_contains("at")) {
    if (!at->is_string()) return api_error{"at", "expected an ISO 8601 time string"};
    auto t = parse_iso(std::string(at->as_string()));
    if (!t)
      return api_error{"at", "'" + std::string(at->as_string()) + "' is not an ISO 8601 time"};
    out.event.at = *t;
  }
  return out;
}

integrator_api::integrator_api(async_store& store, const clock& clk, std::string default_region,
                               campaign::journey_engine* journeys)
    : store_(store), clock_(clk), region_(std::move(default_region)), journeys_(journeys) {}

asio::awaitable<std::optional<net::http_response_t>> integrator_api::handle(
    net::http_request_t request) {
  std::string path(request.target().substr(0, request.target().find('?')));
  if (path != "/v1/contacts" && path != "/v1/events") co_return std::nullopt;
  if (request.method() != http::verb::post) {
    auto res = net::make_response(request, 405, error_json({"", "use POST"}));
    res.set(http::field::allow, "POST");
    co_return res;
  }
  auto now = clock_.now();
  std::function<json::object(store&)> job;
  if (path == "/v1/contacts") {
    auto parsed = parse_contacts_body(request.body(), region_);
    if (auto* e = std::get_if<api_error>(&parsed))
      co_return net::make_response(request, 400, error_json(*e));
    job = [contacts = std::get<std::vector<contact>>(std::move(parsed)), journeys = journeys_,
           now](store& s) {
      json::object out;
      s.transaction([&] {
        auto ids = s.upsert_contacts(contacts);
        std::size_t entered = journeys ? journeys->contacts_changed(s, ids, now).entered : 0;
        json::array arr(ids.begin(), ids.end());
        out = json::object{
            {"upserted", ids.size()}, {"ids", std::move(arr)}, {"journeys_entered", entered}};
      });
      return out;
    };
  } else {
    auto parsed = parse_event_body(request.body(), region_, now);
    if (auto* e = std::get_if<api_error>(&parsed))
      co_return net::make_response(request, 400, error_json(*e));
    job = [ev = std::get<parsed_event>(std::move(parsed)), journeys = journeys_, now](store& s) {
      json::object out;
      s.transaction([&] {
        auto event = ev.event;
        event.contact_id = s.ensure_contact(ev.phone, now);
        event.id = s.record_event(event);
        std::size_t entered = journeys ? journeys->event_recorded(s, event, now).entered : 0;
        out = json::object{{"id", event.id}, {"journeys_entered", entered}};
      });
      return out;
    };
  }
  std::optional<json::object> result;
  try {
    auto op = store_.async_run<json::object>(std::move(job), asio::use_awaitable);
    result = co_await std::move(op);
  } catch (const std::exception& e) {
    spdlog::error("{}: {}", path, e.what());
  }
  if (!result)
    co_return net::make_response(request, 503, error_json({"", "could not store; try again"}));
  co_return net::make_response(request, 200, json::serialize(*result));
}

}  // namespace pigeon::engine::inbound
