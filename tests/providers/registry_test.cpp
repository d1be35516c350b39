#include "providers/registry.hpp"

#include <doctest/doctest.h>

#include <string>

#include "tests/providers/golden.hpp"

namespace pigeon::providers {
namespace {

using test::provider_builder;

std::string error_of(const config::provider_config& cfg, const codec_context& ctx = {}) {
  try {
    make_codec(cfg, ctx);
  } catch (const config::config_error& e) {
    return e.what();
  }
  return "no error";
}

TEST_CASE("the registry lists the kinds this build can make") {
  CHECK(available_kinds() ==
        std::vector<std::string>{"generic-http", "kannel", "simulator", "twilio"});
}

TEST_CASE("the registry makes a codec of the configured kind") {
  auto http = provider_builder("gateway", "generic-http").set("url", "http://gw.local/send").cfg;
  CHECK(make_codec(http, {})->kind() == "generic-http");

  auto sim = provider_builder("sandbox", "simulator").cfg;
  codec_context ctx;
  ctx.simulator_url = "http://127.0.0.1:18090";
  auto codec = make_codec(sim, ctx);
  CHECK(codec->kind() == "simulator");
  CHECK(codec->build_submit({}).url == "http://127.0.0.1:18090/messages");
}

TEST_CASE("the registry makes twilio and kannel codecs and passes their config errors through") {
  auto twilio = provider_builder("main", "twilio")
                    .set("account_sid", "AC0123456789abcdef0123456789abcdef")
                    .set("auth_token", "token")
                    .set("from", "+15550001111")
                    .cfg;
  CHECK(make_codec(twilio, {})->kind() == "twilio");
  auto kannel = provider_builder("backup", "kannel")
                    .set("url", "http://127.0.0.1:13013/cgi-bin/sendsms")
                    .set("username", "pigeon")
                    .set("password", "pw")
                    .cfg;
  CHECK(make_codec(kannel, {})->kind() == "kannel");

  auto bad = provider_builder("main", "twilio").set("account_sid", "AC1").cfg;
  auto text = error_of(bad);
  CHECK(text.find("engine.yaml:21:5: key 'account_sid' of twilio provider 'main' is not a Twilio "
                  "account SID") != std::string::npos);
  CHECK(text.find("engine.yaml:20:3: twilio provider 'main' needs key 'auth_token'") !=
        std::string::npos);
}

TEST_CASE("the registry refuses an unknown kind") {
  auto cfg = provider_builder("x", "smpp").cfg;
  CHECK(error_of(cfg) ==
        "engine.yaml:20:3: provider 'x' has kind 'smpp', which is not a known provider kind "
        "(available: generic-http, kannel, simulator, twilio)");
}

TEST_CASE("the registry passes a codec's config errors through") {
  auto cfg = provider_builder("gateway", "generic-http").set("urll", "http://gw.local/").cfg;
  auto text = error_of(cfg);
  CHECK(text.find("engine.yaml:20:3: generic-http provider 'gateway' needs key 'url'") !=
        std::string::npos);
  CHECK(text.find("engine.yaml:21:5: unknown key 'urll'") != std::string::npos);
}

TEST_CASE("a rehearsal may reach simulators and loopback hosts only, never credentials shown") {
  auto twilio = [](const char* base_url) {
    auto b = provider_builder("main", "twilio")
                 .set("account_sid", "AC0123456789abcdef0123456789abcdef")
                 .set("auth_token", "token")
                 .set("from", "+15550001111");
    if (*base_url) b.set("base_url", base_url);
    return b.cfg;
  };
  CHECK(off_loopback_url(twilio("")) ==
        "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/"
        "Messages.json");
  CHECK_FALSE(off_loopback_url(twilio("http://127.0.0.2:4010")));
  CHECK_FALSE(off_loopback_url(twilio("http://[::1]:4010")));
  CHECK_FALSE(off_loopback_url(twilio("http://LocalHost:4010")));
  CHECK(off_loopback_url(twilio("http://0.0.0.0:4010")));
  CHECK(off_loopback_url(twilio("http://localhost.example.com")));
  auto kannel = provider_builder("backup", "kannel")
                    .set("url", "http://10.0.0.5:13013/cgi-bin/sendsms")
                    .set("username", "pigeon")
                    .set("password", "pw-secret")
                    .cfg;
  CHECK(off_loopback_url(kannel) == "http://10.0.0.5:13013/cgi-bin/sendsms");
  auto far_simulator =
      provider_builder("sandbox", "simulator").set("url", "http://sim.example.com").cfg;
  CHECK_FALSE(off_loopback_url(far_simulator));
}

TEST_CASE("a kannel provider that will never get delivery receipts is named") {
  config::engine_config cfg;
  cfg.public_url = "https://sms.example.com";
  cfg.providers["backup"] = provider_builder("backup", "kannel")
                                .set("url", "http://127.0.0.1:13013/cgi-bin/sendsms")
                                .set("username", "pigeon")
                                .set("password", "pw")
                                .cfg;
  auto warnings = config_warnings(cfg);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("provider backup (kannel) has no webhook_token") != std::string::npos);
  cfg.public_url.clear();
  CHECK(config_warnings(cfg).size() == 2);
  cfg.providers["backup"].settings["dlr_mask"] = {"0", {}};
  CHECK(config_warnings(cfg).empty());
}

}  // namespace
}  // namespace pigeon::providers
