#include "providers/simulator.hpp"

#include <doctest/doctest.h>

#include <string>

#include "tests/providers/golden.hpp"

namespace pigeon::providers {
namespace {

using test::check_golden;
using test::provider_builder;

TEST_CASE("simulator posts an SMS to {url}/messages in its fixed JSON shape") {
  auto cfg = provider_builder("sandbox", "simulator").set("url", "http://127.0.0.1:18090/").cfg;
  auto request = simulator::make(cfg)->build_submit(test::tricky_message());
  CHECK(request.timeout == std::chrono::milliseconds(10000));
  check_golden("simulator", "sms.request", test::to_text(request));
}

TEST_CASE("simulator posts an MMS with its subject and media") {
  auto cfg = provider_builder("sandbox", "simulator")
                 .set("url", "http://127.0.0.1:18090")
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
    auto own = provider_builder("sandbox", "simulator").set("url", "http://sim:1").cfg;
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
  auto cfg = provider_builder("sandbox", "simulator").set("url", "http://127.0.0.1:18090").cfg;
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
          "expected one of: url, from, timeout, webhook_token");
  }
}

}  // namespace
}  // namespace pigeon::providers
