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
  CHECK(available_kinds() == std::vector<std::string>{"generic-http", "simulator"});
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

TEST_CASE("the registry says twilio and kannel are not available yet, at the provider") {
  auto cfg = provider_builder("main", "twilio").set("account_sid", "AC1").cfg;
  CHECK(error_of(cfg) ==
        "engine.yaml:20:3: provider 'main' has kind 'twilio', which is not available yet in this "
        "build (available: generic-http, simulator)");
  cfg.kind = "kannel";
  CHECK(error_of(cfg).find("kind 'kannel', which is not available yet") != std::string::npos);
}

TEST_CASE("the registry refuses an unknown kind") {
  auto cfg = provider_builder("x", "smpp").cfg;
  CHECK(error_of(cfg) ==
        "engine.yaml:20:3: provider 'x' has kind 'smpp', which is not a known provider kind "
        "(available: generic-http, simulator)");
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
