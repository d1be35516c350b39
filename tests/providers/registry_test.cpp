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

}  // namespace
}  // namespace pigeon::providers
