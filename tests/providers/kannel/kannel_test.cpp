#include "providers/kannel.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "tests/providers/golden.hpp"

namespace pigeon::providers {
namespace {

using test::check_golden;
using test::provider_builder;

config::provider_config kannel_config() {
  return provider_builder("backup", "kannel")
      .set("url", "http://127.0.0.1:13013/cgi-bin/sendsms")
      .set("username", "pigeon")
      .set("password", "p&ss word")
      .set("from", "10690000")
      .set("webhook_token", "tok-0123456789abcdef")
      .set("allow_from", "127.0.0.1, ::1")
      .cfg;
}

engine::outbound_message message(std::string text) {
  engine::outbound_message m;
  m.id = 42;
  m.to = "+8613800138000";
  m.text = std::move(text);
  m.status_callback_url = "http://127.0.0.1:8080/webhooks/backup/status";
  return m;
}

TEST_CASE("kannel sends GSM-7 text with a dlr-url carrying pigeon's id and the secret token") {
  auto request =
      kannel::make(kannel_config())->build_submit(message("Your code: 1234 & more @ 10% off"));
  CHECK(request.method == "GET");
  check_golden("kannel", "gsm.request", test::to_text(request));
}

TEST_CASE("kannel sends non-GSM text as UTF-8 with coding=2, and the validity in minutes") {
  auto m = message("【咖啡】双11咖啡券册 ☕🎉 回T退订");
  m.now = engine::parse_iso("2026-11-11T10:00:00Z");
  m.expires = engine::parse_iso("2026-11-11T10:30:01Z");
  auto request = kannel::make(kannel_config())->build_submit(m);
  CHECK(request.url.find("&coding=2") != std::string::npos);
  CHECK(request.url.find("&validity=31") != std::string::npos);
  check_golden("kannel", "ucs2.request", test::to_text(request));
}

TEST_CASE("kannel POSTs the text as the body with every other parameter in X-Kannel headers") {
  auto cfg = kannel_config();
  cfg.settings["method"] = {"post", {"engine.yaml", 40, 5}};
  auto m = message("【咖啡】双11 ☕");
  check_golden("kannel", "ucs2_post.request", test::to_text(kannel::make(cfg)->build_submit(m)));
}

TEST_CASE("kannel asks for no delivery report without a token or a public URL") {
  auto cfg = kannel_config();
  cfg.settings.erase("webhook_token");
  auto request = kannel::make(cfg)->build_submit(message("hi"));
  CHECK(request.url.find("dlr-") == std::string::npos);
  auto no_url = message("hi");
  no_url.status_callback_url.clear();
  CHECK(kannel::make(kannel_config())->build_submit(no_url).url.find("dlr-") == std::string::npos);
}

TEST_CASE("kannel sends an MMS as its text only") {
  auto m = message("see the picture");
  m.kind = "mms";
  m.media = {"https://cdn.example.com/a.jpg"};
  auto request = kannel::make(kannel_config())->build_submit(m);
  CHECK(request.url.find("cdn.example.com") == std::string::npos);
}

TEST_CASE("kannel maps smsbox replies onto verdicts, with our id as the carrier id") {
  auto codec = kannel::make(kannel_config());
  const auto m = message("hi");
  for (std::string name :
       {"accepted", "queued", "ok_html", "auth_failed", "denied_ip", "missing_receiver",
        "blacklisted", "sending_failed", "queue_full", "not_found"}) {
    CAPTURE(name);
    auto response = test::parse_response(test::read_fixture("kannel", name + ".response"));
    check_golden("kannel", name + ".verdict",
                 test::to_text(codec->parse_submit_reply_for(m, response)));
  }
}

TEST_CASE("kannel takes webhooks only from allowed addresses with the right token") {
  auto codec = kannel::make(kannel_config());
  struct fixture {
    const char* name;
    engine::webhook_kind kind;
  };
  for (auto [name, kind] : std::vector<fixture>{
           {"dlr_delivered", engine::webhook_kind::status},
           {"dlr_undelivered", engine::webhook_kind::status},
           {"dlr_buffered", engine::webhook_kind::status},
           {"dlr_smsc_submit", engine::webhook_kind::status},
           {"dlr_smsc_reject", engine::webhook_kind::status},
           {"dlr_unknown_type", engine::webhook_kind::status},
           {"dlr_post_form", engine::webhook_kind::status},
           {"dlr_wrong_token", engine::webhook_kind::status},
           {"dlr_missing_token", engine::webhook_kind::status},
           {"dlr_foreign_address", engine::webhook_kind::status},
           {"mo_stop", engine::webhook_kind::inbound},
           {"mo_without_from", engine::webhook_kind::inbound},
       }) {
    CAPTURE(name);
    auto request =
        test::parse_webhook_request(test::read_fixture("kannel", std::string(name) + ".webhook"));
    check_golden("kannel", std::string(name) + ".events",
                 test::to_text(codec->parse_webhook(kind, request)));
  }
}

TEST_CASE("kannel reads an IPv4 peer on a dual-stack socket as its IPv4 address") {
  auto request = test::parse_webhook_request(test::read_fixture("kannel", "dlr_delivered.webhook"));
  request.remote_address = "::ffff:127.0.0.1";
  auto codec = kannel::make(kannel_config());
  CHECK(std::holds_alternative<engine::webhook_events>(
      codec->parse_webhook(engine::webhook_kind::status, request)));
  request.remote_address = "::ffff:10.0.0.1";
  CHECK(std::holds_alternative<engine::webhook_refused>(
      codec->parse_webhook(engine::webhook_kind::status, request)));
}

TEST_CASE("kannel refuses every webhook when no token is configured") {
  auto cfg = kannel_config();
  cfg.settings.erase("webhook_token");
  auto request = test::parse_webhook_request(test::read_fixture("kannel", "dlr_delivered.webhook"));
  auto result = kannel::make(cfg)->parse_webhook(engine::webhook_kind::status, request);
  REQUIRE(std::holds_alternative<engine::webhook_refused>(result));
  CHECK(std::get<engine::webhook_refused>(result).status == 403);
}

TEST_CASE("kannel reports bad settings at their places") {
  auto cfg = provider_builder("backup", "kannel")
                 .set("url", "http://127.0.0.1:13013/cgi-bin/sendsms?x=1")
                 .set("dlr_mask", "63")
                 .set("webhook_token", "short")
                 .set("dlr-url", "x")
                 .cfg;
  std::vector<std::string> lines;
  try {
    kannel::parse_settings(cfg);
  } catch (const config::config_error& e) {
    for (const auto& issue : e.issues()) lines.push_back(issue.to_string());
  }
  CHECK(lines ==
        std::vector<std::string>{
            "engine.yaml:24:5: unknown key 'dlr-url' for kannel provider 'backup'; expected one "
            "of: url, method, username, password, from, smsc, dlr_mask, webhook_token, "
            "allow_from, timeout",
            "engine.yaml:21:5: key 'url' of kannel provider 'backup' is "
            "'http://127.0.0.1:13013/cgi-bin/sendsms?x=1'; expected an http(s) URL with a host "
            "and no query, such as http://127.0.0.1:13013/cgi-bin/sendsms",
            "engine.yaml:20:3: kannel provider 'backup' needs key 'username'",
            "engine.yaml:20:3: kannel provider 'backup' needs key 'password'",
            "engine.yaml:22:5: key 'dlr_mask' of kannel provider 'backup' is '63'; expected a bit "
            "mask from 0 to 31 (1 delivered, 2 undelivered, 4 buffered, 8 smsc submit, 16 smsc "
            "reject)",
            "engine.yaml:23:5: key 'webhook_token' of kannel provider 'backup' is too short to be "
            "a secret; use at least 16 characters",
        });
}

}  // namespace
}  // namespace pigeon::providers
