#include "providers/simulator.hpp"

#include <doctest/doctest.h>

#include <string>

#include "tests/providers/golden.hpp"

namespace pigeon::providers {
namespace {

using test::check_golden;
using test::provider_builder;

// The secret the tests' simulator signs with (signatures below computed with Python's hmac).
constexpr const char* secret = "whsec-0123456789";

TEST_CASE("simulator posts an SMS to {url}/messages in its fixed JSON shape") {
  auto cfg = provider_builder("sandbox", "simulator")
                 .set("url", "http://127.0.0.1:18090/")
                 .set("webhook_secret", secret)
                 .cfg;
  auto m = test::tricky_message();
  m.status_callback_url = "http://127.0.0.1:8080/webhooks/sandbox/status";
  auto request = simulator::make(cfg)->build_submit(m);
  CHECK(request.timeout == std::chrono::milliseconds(10000));
  check_golden("simulator", "sms.request", test::to_text(request));
}

TEST_CASE("simulator posts an MMS with its subject and media") {
  auto cfg = provider_builder("sandbox", "simulator")
                 .set("url", "http://127.0.0.1:18090")
                 .set("webhook_secret", secret)
                 .set("from", "+15550001111")
                 .set("timeout", "2s")
                 .cfg;
  engine::outbound_message m;
  m.id = 9;
  m.to = "+8613900139000";
  m.kind = "mms";
  m.subject = "双11咖啡券册";
  m.text = "您的双11券册已到";
  m.media = {"https://cdn.example.com/assets/coupon-book.jpg", "https://cdn.example.com/a b.png"};
  auto request = simulator::make(cfg)->build_submit(m);
  CHECK(request.timeout == std::chrono::milliseconds(2000));
  check_golden("simulator", "mms.request", test::to_text(request));
}

TEST_CASE("simulator uses the embedded simulator's url when the provider has none") {
  auto cfg = provider_builder("sandbox", "simulator").cfg;
  auto request = simulator::make(cfg, "http://127.0.0.1:40123")->build_submit({});
  CHECK(request.url == "http://127.0.0.1:40123/messages");
  CHECK(simulator::parse_settings(cfg, "http://127.0.0.1:40123").from == "pigeon");

  SUBCASE("a configured url wins over the embedded one") {
    auto own = provider_builder("sandbox", "simulator")
                   .set("url", "http://sim:1")
                   .set("webhook_secret", secret)
                   .cfg;
    CHECK(simulator::parse_settings(own, "http://127.0.0.1:40123").url == "http://sim:1");
  }
  SUBCASE("with neither there is nowhere to send") {
    try {
      simulator::make(cfg);
      FAIL("expected a config_error");
    } catch (const config::config_error& e) {
      CHECK(std::string(e.what()) ==
            "engine.yaml:20:3: simulator provider 'sandbox' has no url and no embedded "
            "simulator is running to provide one");
    }
  }
}

TEST_CASE("simulator maps its replies and fault injections onto verdicts as the fixtures say") {
  auto cfg = provider_builder("sandbox", "simulator")
                 .set("url", "http://127.0.0.1:18090")
                 .set("webhook_secret", secret)
                 .cfg;
  auto codec = simulator::make(cfg);
  for (std::string name :
       {"created", "created_message_id_only", "created_without_id", "unavailable", "throttled",
        "invalid_number", "opted_out", "not_found_plain", "gateway_timeout"}) {
    CAPTURE(name);
    auto response = test::parse_response(test::read_fixture("simulator", name + ".response"));
    check_golden("simulator", name + ".verdict",
                 test::to_text(codec->parse_submit_reply(response)));
  }
}

TEST_CASE("simulator reports an unknown key at its own location") {
  auto cfg = provider_builder("sandbox", "simulator").set("rate_limit", "5").cfg;
  try {
    simulator::parse_settings(cfg, "http://127.0.0.1:1");
    FAIL("expected a config_error");
  } catch (const config::config_error& e) {
    REQUIRE(e.issues().size() == 1);
    CHECK(e.issues()[0].to_string() ==
          "engine.yaml:21:5: unknown key 'rate_limit' for simulator provider 'sandbox'; "
          "expected one of: url, from, timeout, webhook_secret");
  }
}

engine::webhook_request simulator_post(std::string path, std::string body) {
  engine::webhook_request r;
  r.method = "POST";
  r.url = "http://127.0.0.1:8080" + path;
  r.path = std::move(path);
  r.headers["content-type"] = "application/json";
  r.body = std::move(body);
  r.remote_address = "127.0.0.1";
  r.received_at = *engine::parse_iso("2026-11-12T02:31:00Z");
  return r;
}

TEST_CASE("simulator reads the delivery reports and inbound messages the simulator posts") {
  auto codec = simulator::make(provider_builder("sandbox", "simulator")
                                   .set("url", "http://s")
                                   .set("webhook_secret", secret)
                                   .cfg);
  auto dlr =
      simulator_post("/webhooks/sandbox/status",
                     R"({"id":"SIM-3","ref":"42","status":"undelivered","error_code":"30003"})");
  dlr.headers["x-timestamp"] = "1794450600";
  dlr.headers["x-signature"] = "4c391aae1874a83ecba7ecc544716f0ccf448e8746e07e12a05693047fff13b5";
  check_golden("simulator", "dlr_undelivered.events",
               test::to_text(codec->parse_webhook(engine::webhook_kind::status, dlr)));
  auto mo =
      simulator_post("/webhooks/sandbox/inbound",
                     R"({"id":"SIM-MO-1","from":"+8613800138000","to":"10690000","text":"退订"})");
  mo.headers["x-timestamp"] = "1794450600";
  mo.headers["x-signature"] = "76eace3d4cad2e93981e367a6c5eabf6b407fa95e74e656fed46bebfb225eb15";
  check_golden("simulator", "mo.events",
               test::to_text(codec->parse_webhook(engine::webhook_kind::inbound, mo)));
}

TEST_CASE("simulator refuses unsigned callbacks even from loopback") {
  auto dlr = simulator_post("/webhooks/sandbox/status",
                            R"({"id":"SIM-3","ref":"42","status":"undelivered"})");
  SUBCASE("with a secret, an unsigned post from 127.0.0.1 is a forgery") {
    auto codec = simulator::make(provider_builder("sandbox", "simulator")
                                     .set("url", "http://s")
                                     .set("webhook_secret", secret)
                                     .cfg);
    auto result = codec->parse_webhook(engine::webhook_kind::status, dlr);
    REQUIRE(std::holds_alternative<engine::webhook_refused>(result));
    CHECK(std::get<engine::webhook_refused>(result).security);
  }
  SUBCASE("an embedded simulator's codec without any secret refuses everything") {
    auto codec =
        simulator::make(provider_builder("sandbox", "simulator").cfg, "http://127.0.0.1:1");
    auto result = codec->parse_webhook(engine::webhook_kind::status, dlr);
    REQUIRE(std::holds_alternative<engine::webhook_refused>(result));
    CHECK(std::get<engine::webhook_refused>(result).status == 401);
  }
  SUBCASE("the embedded simulator's secret is the codec's when the provider sets none") {
    auto s = simulator::parse_settings(provider_builder("sandbox", "simulator").cfg,
                                       "http://127.0.0.1:1", "generated-secret");
    CHECK(s.webhook_secret == "generated-secret");
  }
}

TEST_CASE("a simulator at a url without a webhook_secret is refused at its place") {
  auto cfg = provider_builder("sandbox", "simulator").set("url", "http://127.0.0.1:18090").cfg;
  try {
    simulator::parse_settings(cfg);
    FAIL("expected a config_error");
  } catch (const config::config_error& e) {
    REQUIRE(e.issues().size() == 1);
    CHECK(e.issues()[0].to_string().starts_with(
        "engine.yaml:20:3: simulator provider 'sandbox' at url "
        "http://127.0.0.1:18090 has no webhook_secret"));
  }
}

TEST_CASE("simulator with a webhook secret wants the simulator's signature, from any address") {
  auto codec = simulator::make(provider_builder("sandbox", "simulator")
                                   .set("url", "http://s")
                                   .set("webhook_secret", secret)
                                   .cfg);
  // Signature computed independently (Python hmac) over 1794450600.{body}.
  auto dlr = simulator_post("/webhooks/sandbox/status",
                            R"({"id":"gw-1","ref":"42","status":"delivered"})");
  dlr.remote_address = "192.0.2.1";
  dlr.headers["x-timestamp"] = "1794450600";
  dlr.headers["x-signature"] = "c6d909492b3d4fe272c080cd0165033b45b13015c341bfe01046e712cf3a597c";
  auto result = codec->parse_webhook(engine::webhook_kind::status, dlr);
  REQUIRE(std::holds_alternative<engine::webhook_events>(result));
  CHECK(std::get<engine::webhook_events>(result).receipts.at(0).message_id == 42);
  dlr.headers.erase("x-signature");
  auto unsigned_result = codec->parse_webhook(engine::webhook_kind::status, dlr);
  REQUIRE(std::holds_alternative<engine::webhook_refused>(unsigned_result));
  CHECK(std::get<engine::webhook_refused>(unsigned_result).security);
}

}  // namespace
}  // namespace pigeon::providers
