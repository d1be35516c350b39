#include "providers/twilio.hpp"

#include <doctest/doctest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/providers/golden.hpp"

namespace pigeon::providers {
namespace {

using test::check_golden;
using test::provider_builder;

constexpr std::string_view token = "0123456789abcdef0123456789abcdef";

config::provider_config twilio_config() {
  return provider_builder("main", "twilio")
      .set("base_url", "https://api.twilio.com/")
      .set("account_sid", "AC0123456789abcdef0123456789abcdef")
      .set("auth_token", std::string(token))
      .set("from", "+15550001111")
      .cfg;
}

engine::outbound_message sms() {
  auto m = test::tricky_message();
  m.status_callback_url = "https://sms.example.com/webhooks/main/status";
  return m;
}

std::vector<config::config_issue> issues_of(const config::provider_config& cfg) {
  try {
    twilio::parse_settings(cfg);
  } catch (const config::config_error& e) {
    return e.issues();
  }
  FAIL("expected a config_error");
  return {};
}

TEST_CASE("twilio posts a form-encoded message with basic auth and pigeon's id in the callback") {
  auto request = twilio::make(twilio_config())->build_submit(sms());
  check_golden("twilio", "sms.request", test::to_text(request));
}

TEST_CASE("twilio sends a GSM-7 message, a messaging service and the validity left") {
  auto cfg = twilio_config();
  cfg.settings["messaging_service_sid"] = {"MG0123456789abcdef0123456789abcdef", {}};
  engine::outbound_message m;
  m.id = 7;
  m.to = "+14155550100";
  m.text = "Your code is 1234. Reply STOP to opt out.";
  m.now = engine::parse_iso("2026-11-11T10:00:00Z");
  m.expires = engine::parse_iso("2026-11-11T10:30:00.400Z");
  check_golden("twilio", "gsm_service_validity.request",
               test::to_text(twilio::make(cfg)->build_submit(m)));
}

TEST_CASE("twilio clamps the validity to 1..36000 seconds and omits it without a clock") {
  auto codec = twilio::make(twilio_config());
  engine::outbound_message m;
  m.to = "+14155550100";
  m.text = "x";
  m.now = engine::parse_iso("2026-11-11T10:00:00Z");
  m.expires = engine::parse_iso("2026-11-13T10:00:00Z");
  CHECK(codec->build_submit(m).body.ends_with("&ValidityPeriod=36000"));
  m.expires = engine::parse_iso("2026-11-11T09:00:00Z");
  CHECK(codec->build_submit(m).body.ends_with("&ValidityPeriod=1"));
  m.now.reset();
  CHECK(codec->build_submit(m).body.find("ValidityPeriod") == std::string::npos);
}

TEST_CASE("twilio sends an MMS with one MediaUrl per media, and refuses more than ten") {
  auto codec = twilio::make(twilio_config());
  auto m = sms();
  m.kind = "mms";
  m.subject = "双11";
  m.text = "双11咖啡券册";
  m.media = {"https://cdn.example.com/a.jpg", "https://cdn.example.com/b b.png",
             "https://cdn.example.com/c.gif?v=1&w=2"};
  CHECK_FALSE(codec->refuse(m).has_value());
  check_golden("twilio", "mms.request", test::to_text(codec->build_submit(m)));

  m.media.assign(11, "https://cdn.example.com/a.jpg");
  auto refused = codec->refuse(m);
  REQUIRE(refused.has_value());
  CHECK(refused->code == "too-many-media");
  CHECK(refused->blame == engine::fault::recipient);
}

TEST_CASE("twilio maps every reply fixture onto its verdict and whose fault it is") {
  auto codec = twilio::make(twilio_config());
  for (std::string name :
       {"created", "opted_out", "invalid_to", "not_mobile", "unreachable_region",
        "from_not_capable", "not_sms_capable", "body_too_long", "too_many_requests",
        "rate_code_on_400", "unauthorized", "forbidden", "account_not_found", "server_error",
        "unavailable_html", "ok_html", "ok_garbage", "redirect"}) {
    CAPTURE(name);
    auto response = test::parse_response(test::read_fixture("twilio", name + ".response"));
    check_golden("twilio", name + ".verdict", test::to_text(codec->parse_submit_reply(response)));
  }
}

TEST_CASE("twilio treats a misconfigured sender as the carrier's fault, not the recipient's") {
  auto codec = twilio::make(twilio_config());
  for (const char* code : {"21603", "21659", "21660", "21705", "21611"}) {
    CAPTURE(code);
    auto verdict = codec->parse_submit_reply(
        {400, {}, std::string(R"({"code":)") + code + R"(,"message":"x","status":400})"});
    REQUIRE(std::holds_alternative<engine::retry_later>(verdict));
    CHECK(std::get<engine::retry_later>(verdict).blame == engine::fault::carrier);
  }
}

TEST_CASE("twilio never calls a 2xx without a sid accepted") {
  auto codec = twilio::make(twilio_config());
  for (const char* body : {"", "null", "[]", R"({"sid":""})", R"({"sid":12})", "<xml/>"}) {
    CAPTURE(body);
    auto verdict = codec->parse_submit_reply({201, {}, body});
    REQUIRE(std::holds_alternative<engine::retry_later>(verdict));
    CHECK(std::get<engine::retry_later>(verdict).blame == engine::fault::carrier);
  }
}

TEST_CASE("twilio verifies the signature of status and inbound webhooks before reading them") {
  auto codec = twilio::make(twilio_config());
  struct fixture {
    const char* name;
    engine::webhook_kind kind;
  };
  for (auto [name, kind] : std::vector<fixture>{
           {"status_delivered", engine::webhook_kind::status},
           {"status_sent", engine::webhook_kind::status},
           {"status_undelivered", engine::webhook_kind::status},
           {"status_failed", engine::webhook_kind::status},
           {"status_signed_with_port", engine::webhook_kind::status},
           {"status_bad_signature", engine::webhook_kind::status},
           {"status_missing_signature", engine::webhook_kind::status},
           {"status_tampered_id", engine::webhook_kind::status},
           {"status_without_sid", engine::webhook_kind::status},
           {"inbound_stop", engine::webhook_kind::inbound},
           {"inbound_without_from", engine::webhook_kind::inbound},
       }) {
    CAPTURE(name);
    auto request =
        test::parse_webhook_request(test::read_fixture("twilio", std::string(name) + ".webhook"));
    check_golden("twilio", std::string(name) + ".events",
                 test::to_text(codec->parse_webhook(kind, request)));
  }
}

TEST_CASE("twilio reads a GET status callback from its signed query") {
  engine::webhook_request request;
  request.method = "GET";
  request.url =
      "https://sms.example.com/webhooks/main/status?id=7&MessageSid=SM1&MessageStatus=delivered";
  request.query = request.url.substr(request.url.find('?') + 1);
  request.headers["x-twilio-signature"] =
      twilio::compute_signature(token, request.url, {});  // the URL alone, as Twilio signs GETs
  auto result = twilio::make(twilio_config())->parse_webhook(engine::webhook_kind::status, request);
  REQUIRE(std::holds_alternative<engine::webhook_events>(result));
  const auto& e = std::get<engine::webhook_events>(result).receipts.at(0);
  CHECK(e.message_id == 7);
  CHECK(e.carrier_id == "SM1");
  CHECK(e.state == engine::message_state::delivered);
}

TEST_CASE("twilio refuses a webhook signed with another account's token") {
  auto request =
      test::parse_webhook_request(test::read_fixture("twilio", "status_delivered.webhook"));
  auto cfg = twilio_config();
  cfg.settings["auth_token"].value = "another-token";
  auto result = twilio::make(cfg)->parse_webhook(engine::webhook_kind::status, request);
  REQUIRE(std::holds_alternative<engine::webhook_refused>(result));
  CHECK(std::get<engine::webhook_refused>(result).status == 403);
  CHECK(std::get<engine::webhook_refused>(result).security);
}

// --- tests/fixtures/twilio/twilio-signature-vectors.json (origin: tests/fixtures/README.md) ---

boost::json::value load_vectors() {
  const std::string path =
      std::string(PIGEON_SOURCE_DIR) + "/tests/fixtures/twilio/twilio-signature-vectors.json";
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "missing signature vectors at " << path);
  std::ostringstream text;
  text << in.rdbuf();
  return boost::json::parse(text.str());
}

form_params params_of(const boost::json::value& v) {
  form_params out;
  if (const auto* obj = v.if_object())
    for (const auto& [k, value] : *obj) {
      if (value.is_array())
        for (const auto& item : value.get_array())
          out.emplace_back(std::string(k), std::string(item.get_string()));
      else
        out.emplace_back(std::string(k), std::string(value.get_string()));
    }
  return out;
}

TEST_CASE("twilio computes every published signature vector and accepts its signature") {
  auto doc = load_vectors();
  const auto& vectors = doc.at("vectors").as_array();
  REQUIRE(vectors.size() >= 10);
  for (const auto& v : vectors) {
    std::string name(v.at("name").as_string());
    CAPTURE(name);
    std::string token(v.at("auth_token").as_string());
    std::string url(v.at("url").as_string());
    std::string expected(v.at("expected_signature").as_string());
    auto params = params_of(v.at("params"));
    CHECK(twilio::compute_signature(token, url, params) == expected);
    std::optional<std::string_view> body;
    std::string body_text;
    if (const auto* b = v.as_object().if_contains("body")) {
      body_text = std::string(b->as_string());
      body = body_text;
    }
    CHECK(twilio::validate_signature(token, expected, url, params, body));
  }
}

TEST_CASE("twilio decides every validation case of the vectors file as Twilio's library does") {
  auto doc = load_vectors();
  const auto& cases = doc.at("validation_cases").as_array();
  REQUIRE(cases.size() >= 10);
  int accepted = 0, refused = 0;
  for (const auto& c : cases) {
    std::string name(c.at("name").as_string());
    CAPTURE(name);
    const auto& obj = c.as_object();
    std::string token(c.at("auth_token").as_string());
    std::string signature(c.at("signature_header").as_string());
    std::string url(c.at("request_url").as_string());
    form_params params;
    if (const auto* p = obj.if_contains("params")) params = params_of(*p);
    std::optional<std::string_view> body;
    std::string body_text;
    if (const auto* b = obj.if_contains("raw_body")) {
      body_text = std::string(b->as_string());
      body = body_text;
    }
    const bool expected = c.at("expected_valid").as_bool();
    CHECK(twilio::validate_signature(token, signature, url, params, body) == expected);
    (expected ? accepted : refused)++;
  }
  CHECK(accepted > 0);
  CHECK(refused > 0);
}

TEST_CASE("twilio takes a JSON webhook only when its body matches the signed bodySHA256") {
  auto doc = load_vectors();
  const boost::json::value* json_case = nullptr;
  for (const auto& c : doc.at("validation_cases").as_array())
    if (c.at("name").as_string() == "valid_json_body") json_case = &c;
  REQUIRE(json_case);
  engine::webhook_request request;
  request.method = "POST";
  request.url = std::string(json_case->at("request_url").as_string());
  request.query = request.url.substr(request.url.find('?') + 1);
  request.headers["x-twilio-signature"] =
      std::string(json_case->at("signature_header").as_string());
  request.headers["content-type"] = "application/json";
  request.body = std::string(json_case->at("raw_body").as_string());
  auto cfg = twilio_config();
  cfg.settings["auth_token"].value = "12345";
  auto codec = twilio::make(cfg);
  // Authentic, but not a status callback: a 400, not a 403.
  auto result = codec->parse_webhook(engine::webhook_kind::status, request);
  REQUIRE(std::holds_alternative<engine::webhook_refused>(result));
  CHECK(std::get<engine::webhook_refused>(result).status == 400);
  request.body[5] = 'X';
  result = codec->parse_webhook(engine::webhook_kind::status, request);
  REQUIRE(std::holds_alternative<engine::webhook_refused>(result));
  CHECK(std::get<engine::webhook_refused>(result).status == 403);
}

TEST_CASE("twilio reports unknown keys and a missing sender at their places") {
  auto cfg = provider_builder("main", "twilio")
                 .set("account_sid", "AC0123456789abcdef0123456789abcdef")
                 .set("auth_token", "t")
                 .set("messaging_service", "MG1")
                 .set("base_url", "ftp://api.twilio.com")
                 .cfg;
  std::vector<std::string> lines;
  for (const auto& issue : issues_of(cfg)) lines.push_back(issue.to_string());
  CHECK(lines ==
        std::vector<std::string>{
            "engine.yaml:23:5: unknown key 'messaging_service' for twilio provider 'main'; "
            "expected one of: base_url, account_sid, auth_token, from, messaging_service_sid, "
            "timeout",
            "engine.yaml:24:5: key 'base_url' of twilio provider 'main' is "
            "'ftp://api.twilio.com'; expected an http(s) URL with a host and no query",
            "engine.yaml:20:3: twilio provider 'main' needs key 'from' or "
            "'messaging_service_sid'",
        });
}

}  // namespace
}  // namespace pigeon::providers
