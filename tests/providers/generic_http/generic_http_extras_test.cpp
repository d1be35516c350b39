// generic-http: HMAC-signed submissions, batch mode and signed JSON webhooks.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "providers/generic_http.hpp"
#include "tests/providers/golden.hpp"

namespace pigeon::providers {
namespace {

using test::check_golden;
using test::provider_builder;

engine::outbound_message message(std::int64_t id, std::string to, std::string text) {
  engine::outbound_message m;
  m.id = id;
  m.to = std::move(to);
  m.text = std::move(text);
  m.now = engine::parse_iso("2026-11-12T02:30:00Z");
  return m;
}

TEST_CASE("generic-http signs a submission with HMAC-SHA256 over the timestamp and the body") {
  auto cfg = provider_builder("gateway", "generic-http")
                 .set("url", "http://127.0.0.1:18080/send")
                 .set("auth", "hmac")
                 .set("hmac_secret", "hmac-secret-1")
                 .cfg;
  auto request = generic_http::make(cfg)->build_submit(message(5, "+15550100", "hi"));
  // The expected value was computed independently (Python hmac) over
  // 1794450600.{"to":"+15550100","from":"","text":"hi","ref":"5"}.
  REQUIRE(request.headers.size() == 3);
  CHECK(request.headers[1] == std::pair<std::string, std::string>{"X-Timestamp", "1794450600"});
  CHECK(request.headers[2] ==
        std::pair<std::string, std::string>{
            "X-Signature", "cf539fab94613dd1dac815bd07ef3aafac2f258030a1da4900cf6409e300c31f"});
}

TEST_CASE("generic-http needs hmac_secret with auth: hmac, at the provider") {
  auto cfg = provider_builder("gateway", "generic-http")
                 .set("url", "http://127.0.0.1:18080/send")
                 .set("auth", "hmac")
                 .set("hmac_header", "X Sig")
                 .cfg;
  std::vector<std::string> lines;
  try {
    generic_http::parse_settings(cfg);
  } catch (const config::config_error& e) {
    for (const auto& issue : e.issues()) lines.push_back(issue.to_string());
  }
  CHECK(lines == std::vector<std::string>{
                     "engine.yaml:20:3: generic-http provider 'gateway' needs key 'hmac_secret'",
                     "engine.yaml:23:5: key 'hmac_header' of generic-http provider 'gateway' is "
                     "'X Sig', not a valid header name",
                 });
}

config::provider_config batch_config() {
  return provider_builder("gateway", "generic-http")
      .set("url", "http://127.0.0.1:18080/batch")
      .set("from", "pigeon")
      .set("batch", "3")
      .set("batch_results_pointer", "/results")
      .set("batch_id_pointer", "/message_id")
      .cfg;
}

TEST_CASE("generic-http batch mode sends a JSON array and reads one verdict per message") {
  auto codec = generic_http::make(batch_config());
  CHECK(codec->max_batch() == 3);
  std::vector<engine::outbound_message> batch{message(1, "+15550101", "one"),
                                              message(2, "+15550102", "two \"2\""),
                                              message(3, "+15550103", "三")};
  check_golden("generic_http", "batch.request", test::to_text(codec->build_submit_batch(batch)));

  auto response = test::parse_response(test::read_fixture("generic_http", "batch_reply.response"));
  std::string text;
  for (const auto& v : codec->parse_submit_batch_reply(response, 3)) text += test::to_text(v);
  check_golden("generic_http", "batch_reply.verdicts", text);
}

TEST_CASE(
    "generic-http batch mode gives every message one verdict when the reply cannot be split") {
  auto codec = generic_http::make(batch_config());
  auto short_reply =
      test::parse_response(test::read_fixture("generic_http", "batch_reply_short.response"));
  auto verdicts = codec->parse_submit_batch_reply(short_reply, 3);
  REQUIRE(verdicts.size() == 3);
  for (const auto& v : verdicts) {
    REQUIRE(std::holds_alternative<engine::rejected>(v));
    CHECK(std::get<engine::rejected>(v).code == "no-id");
  }
  auto throttled = codec->parse_submit_batch_reply({429, {{"Retry-After", "2"}}, ""}, 3);
  REQUIRE(throttled.size() == 3);
  for (const auto& v : throttled) {
    REQUIRE(std::holds_alternative<engine::retry_later>(v));
    CHECK(std::get<engine::retry_later>(v).after == std::chrono::seconds(2));
  }
}

TEST_CASE("generic-http refuses batch mode with a form body or an absurd size") {
  auto cfg = batch_config();
  cfg.settings["format"] = {"form", {"engine.yaml", 40, 5}};
  cfg.settings["batch"].value = "5000";
  std::vector<std::string> lines;
  try {
    generic_http::parse_settings(cfg);
  } catch (const config::config_error& e) {
    for (const auto& issue : e.issues()) lines.push_back(issue.to_string());
  }
  CHECK(lines == std::vector<std::string>{
                     "engine.yaml:23:5: key 'batch' of generic-http provider 'gateway' is "
                     "'5000'; expected a number of messages per request from 1 to 1000",
                 });
  cfg.settings["batch"].value = "10";
  lines.clear();
  try {
    generic_http::parse_settings(cfg);
  } catch (const config::config_error& e) {
    for (const auto& issue : e.issues()) lines.push_back(issue.to_string());
  }
  CHECK(lines == std::vector<std::string>{
                     "engine.yaml:23:5: key 'batch' of generic-http provider 'gateway' needs "
                     "format: json",
                 });
}

TEST_CASE("generic-http takes signed JSON webhooks within the replay window only") {
  auto cfg = provider_builder("gateway", "generic-http")
                 .set("url", "http://127.0.0.1:18080/send")
                 .set("webhook_secret", "whsec-0123456789")
                 .cfg;
  auto codec = generic_http::make(cfg);
  struct fixture {
    const char* name;
    engine::webhook_kind kind;
  };
  for (auto [name, kind] : std::vector<fixture>{
           {"dlr_delivered", engine::webhook_kind::status},
           {"dlr_batch", engine::webhook_kind::status},
           {"dlr_replayed", engine::webhook_kind::status},
           {"dlr_tampered", engine::webhook_kind::status},
           {"dlr_unsigned", engine::webhook_kind::status},
           {"mo_reply", engine::webhook_kind::inbound},
       }) {
    CAPTURE(name);
    auto request = test::parse_webhook_request(
        test::read_fixture("generic_http", std::string(name) + ".webhook"));
    check_golden("generic_http", std::string(name) + ".events",
                 test::to_text(codec->parse_webhook(kind, request)));
  }
}

TEST_CASE("generic-http refuses every webhook without a webhook_secret") {
  auto cfg = provider_builder("gateway", "generic-http").set("url", "http://gw.local/send").cfg;
  auto request =
      test::parse_webhook_request(test::read_fixture("generic_http", "dlr_delivered.webhook"));
  auto result = generic_http::make(cfg)->parse_webhook(engine::webhook_kind::status, request);
  REQUIRE(std::holds_alternative<engine::webhook_refused>(result));
  CHECK(std::get<engine::webhook_refused>(result).status == 403);
}

}  // namespace
}  // namespace pigeon::providers
