#pragma once

// integrator_api: `POST /v1/contacts` and `POST /v1/events` on the admin listener.
//
//   POST /v1/contacts   one object or an array of objects:
//     {"phone": "+8613800138000", "tags": ["member"], "attributes": {"first_name": "Li"},
//      "tz": "Asia/Shanghai"}
//     phone required (any format libphonenumber reads; national numbers use default_region);
//     tags: array of strings; attributes: object of strings, numbers, booleans (or null);
//     tz: an IANA zone. Upsert by phone: tags, attributes and tz are replaced.
//     -> 200 {"upserted": N, "ids": [...], "journeys_entered": K}
//   POST /v1/events
//     {"name": "purchase", "phone": "+86...", "properties": {...}, "at": "2026-11-11T10:00:00Z"}
//     name and phone required; properties an object; at ISO 8601 (default: now). The contact is
//     created when unknown. -> 200 {"id": N, "journeys_entered": K}
// Bad input -> 400 {"error": "...", "field": "[2].phone"} naming the field; nothing is stored
// from a request with any bad item. Store failure -> 503.
//
// Threading: like webhook_handler (io_context thread; store work on the writer thread).

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "engine/model/clock.hpp"
#include "engine/model/model.hpp"
#include "engine/net/http_server.hpp"
#include "engine/store/async_store.hpp"

namespace pigeon::engine::campaign {
class journey_engine;
}  // namespace pigeon::engine::campaign

namespace pigeon::engine::inbound {

struct api_error {
  std::string field;  // e.g. "[2].phone", "name"
  std::string message;
};

// Pure validation, exposed for tests.
std::variant<std::vector<contact>, api_error> parse_contacts_body(std::string_view body,
                                                                  std::string_view region);
struct parsed_event {
  std::string phone;  // E.164
  contact_event event;
};
std::variant<parsed_event, api_error> parse_event_body(std::string_view body,
                                                       std::string_view region, time_point now);

class integrator_api {
 public:
  // `journeys`, when set, sees every upserted contact and recorded event on the store's thread
  // (lifecycle journeys); it must outlive the API.
  integrator_api(async_store& store, const clock& clk, std::string default_region,
                 campaign::journey_engine* journeys = nullptr);

  // A response for the /v1/* paths this API owns, nullopt for any other path (so the admin
  // listener can chain handlers).
  boost::asio::awaitable<std::optional<net::http_response_t>> handle(net::http_request_t request);

 private:
  async_store& store_;
  const clock& clock_;
  std::string region_;
  campaign::journey_engine* journeys_;
};

}  // namespace pigeon::engine::inbound
