#include "engine/inbound/integrator_api.hpp"

#include <doctest/doctest.h>

#include "support.hpp"

using namespace pigeon;
using namespace pigeon::engine;
using namespace pigeon::engine::inbound;
using namespace pigeon::engine::sqlite;
using namespace pigeon::engine::test;
namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

std::string field_of(const std::variant<std::vector<contact>, api_error>& r) {
  auto* e = std::get_if<api_error>(&r);
  return e ? e->field + ": " + e->message : "ok";
}

std::string event_field(std::string_view body) {
  auto r = parse_event_body(body, "CN", at_ms(0));
  auto* e = std::get_if<api_error>(&r);
  return e ? e->field + ": " + e->message : "ok";
}

}  // namespace

TEST_CASE("contact bodies are validated with the offending field named") {
  CHECK(field_of(parse_contacts_body(R"({"phone":"+8613800138000"})", "")) == "ok");
  CHECK(field_of(parse_contacts_body(R"({"tags":[]})", "")) == "phone: required");
  CHECK(field_of(parse_contacts_body(R"([{"phone":"+8613800138000"},{"phone":12}])", "")) ==
        "[1].phone: expected a string, got a number");
  CHECK(field_of(parse_contacts_body(R"({"phone":"+8613800138000","tags":["a",""]})", "")) ==
        "tags[1]: expected a non-empty string");
  CHECK(field_of(parse_contacts_body(R"({"phone":"+8613800138000","attributes":{"a":[1]}})", "")) ==
        "attributes.a: expected a string, number or "
        "boolean, got an array");
  CHECK(field_of(parse_contacts_body(R"({"phone":"+8613800138000","tz":"Mars/Base"})", "")) ==
        "tz: 'Mars/Base' is not an IANA time zone");
  CHECK(field_of(parse_contacts_body(R"({"phone":"+8613800138000","colour":"red"})", "")) ==
        "colour: unknown field");
  CHECK(field_of(parse_contacts_body("[]", "")) == ": expected at least one contact");
  CHECK(field_of(parse_contacts_body("{", "")).starts_with(": the body is not JSON"));
  auto bad_phone = field_of(parse_contacts_body(R"({"phone":"12"})", "CN"));
  CHECK(bad_phone.starts_with("phone: "));
}

TEST_CASE("a timestamp attribute that does not read is refused, a readable one stored as ISO") {
  CHECK(field_of(parse_contacts_body(
            R"({"phone":"+8613800138000","attributes":{"member_since_at":"soon"}})", "")) ==
        "attributes.member_since_at: \"soon\" is not an ISO 8601 date or time (e.g. 2026-11-11 "
        "or 2026-11-11T10:00:00+08:00)");
  CHECK(field_of(parse_contacts_body(
            R"({"phone":"+8613800138000","attributes":{"birthday_at":19900314}})", "")) ==
        "attributes.birthday_at: 19900314 is not an ISO 8601 date or time (e.g. 2026-11-11 or "
        "2026-11-11T10:00:00+08:00)");
  auto ok = parse_contacts_body(
      R"({"phone":"+8613800138000","attributes":{"birthday_at":"1990-03-14"}})", "");
  REQUIRE(std::holds_alternative<std::vector<pigeon::engine::contact>>(ok));
  CHECK(std::get<std::vector<pigeon::engine::contact>>(ok)[0].attributes.at("birthday_at") ==
        "1990-03-14T00:00:00.000Z");
}

TEST_CASE("a number JSON cannot hold is refused with its field named, never stored") {
  CHECK(
      field_of(parse_contacts_body(R"({"phone":"+8613800138000","attributes":{"n":1e999}})", "")) ==
      "attributes.n: a number too large for JSON (over about 1.8e308)");
  CHECK(event_field(R"({"name":"p","phone":"13800138000","properties":{"a":{"b":[1,-1e999]}}})") ==
        "properties.a.b[1]: a number too large for JSON (over about 1.8e308)");
  CHECK(event_field(R"({"name":"p","phone":"13800138000","properties":{"n":1e300}})") == "ok");
}

TEST_CASE("a contact's fixed-line number or a zone contradicting its assumed region is refused") {
  CHECK(field_of(parse_contacts_body(R"({"phone":"07700 900125"})", "CN"))
            .starts_with("phone: a fixed-line number in CN"));
  CHECK(field_of(parse_contacts_body(R"({"phone":"139 1000 8411","tz":"Europe/London"})", "CN"))
            .starts_with("phone: tz Europe/London is not a time zone of CN"));
  CHECK(field_of(parse_contacts_body(R"({"phone":"+8613910008411","tz":"Europe/London"})", "CN")) ==
        "ok");
}

TEST_CASE("event bodies need a name and a phone and take an ISO time") {
  CHECK(event_field(R"({"name":"purchase","phone":"13800138000"})") == "ok");
  CHECK(event_field(R"({"phone":"13800138000"})") == "name: required");
  CHECK(event_field(R"({"name":"","phone":"13800138000"})") == "name: expected a non-empty string");
  CHECK(event_field(R"({"name":"p","phone":"13800138000","at":"yesterday"})") ==
        "at: 'yesterday' is not an ISO 8601 time");
  CHECK(event_field(R"({"name":"p","phone":"13800138000","properties":[]})") ==
        "properties: expected an object");
  auto ok = parse_event_body(R"({"name":"p","phone":"13800138000","at":"2026-11-11T10:00:00Z"})",
                             "CN", at_ms(0));
  REQUIRE(std::holds_alternative<parsed_event>(ok));
  CHECK(std::get<parsed_event>(ok).phone == "+8613800138000");
  CHECK(format_iso(std::get<parsed_event>(ok).event.at) == "2026-11-11T10:00:00.000Z");
}

TEST_CASE("the API stores contacts and events, answers 400 on bad input and ignores other paths") {
  temp_dir dir;
  auto path = dir.file("p.db");
  async_store store(sqlite_store::open(path));
  simulated_clock clk(at_ms(1000));
  integrator_api api(store, clk, "CN");
  auto call = [&](http::verb method, std::string target, std::string body) {
    net::http_request_t req{method, target, 11};
    req.body() = std::move(body);
    req.prepare_payload();
    asio::io_context io;
    auto f = asio::co_spawn(io, api.handle(std::move(req)), asio::use_future);
    io.run();
    return f.get();
  };
  auto ok = call(http::verb::post, "/v1/contacts",
                 R"([{"phone":"13800138000","tags":["vip"]},{"phone":"+8613800138001"}])");
  REQUIRE(ok);
  CHECK(ok->result_int() == 200);
  CHECK(ok->body().find(R"("upserted":2)") != std::string::npos);
  auto bad = call(http::verb::post, "/v1/contacts", R"([{"phone":"13800138000"},{}])");
  REQUIRE(bad);
  CHECK(bad->result_int() == 400);
  CHECK(bad->body().find(R"("field":"[1].phone")") != std::string::npos);
  auto ev = call(http::verb::post, "/v1/events", R"({"name":"purchase","phone":"13800138000"})");
  REQUIRE(ev);
  CHECK(ev->result_int() == 200);
  CHECK(call(http::verb::get, "/v1/events", "")->result_int() == 405);
  CHECK_FALSE(call(http::verb::get, "/metrics", ""));

  auto s = sqlite_store::open(path);
  auto c = s->find_contact("+8613800138000");
  REQUIRE(c);
  CHECK(c->tags == std::vector<std::string>{"vip"});
  auto events = s->events(c->id, "purchase", at_ms(0));
  REQUIRE(events.size() == 1);
  CHECK(events[0].at >= at_ms(1000));  // the simulated clock moves on with real time
  CHECK(events[0].at < at_ms(61000));
}
