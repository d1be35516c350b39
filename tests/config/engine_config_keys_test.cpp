// Engine config keys added since the first contract (senders' smart encoding, provider burst and
// price, alerts, admin token rule, window spread, reply texts, secret hygiene, size limit,
// connection cap, media_dir). The first contract's keys: engine_config_test.cpp.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "config/engine_config.hpp"
#include "config/yaml_reader.hpp"
#include "tests/config/test_util.hpp"

using namespace pigeon::config;
using pigeon::config::detail::max_config_bytes;
using pigeon::config::testing::fixture;
using pigeon::config::testing::issues_of;
using strings = std::vector<std::string>;

namespace {

strings engine_issues(const std::string& text) {
  return issues_of([&] { parse_engine_config(text, "engine.yaml"); });
}

}  // namespace

TEST_CASE("a sender's smart_encoding is a boolean, off by default") {
  const auto on = parse_engine_config(
      "senders: { s: { smart_encoding: true, route: [p] } }\nproviders: { p: { kind: simulator } "
      "}\n",
      "e.yaml");
  CHECK(on.senders.at("s").smart_encoding);
  const auto off = parse_engine_config(
      "senders: { s: { route: [p] } }\nproviders: { p: { kind: simulator } }\n", "e.yaml");
  CHECK_FALSE(off.senders.at("s").smart_encoding);
  CHECK(engine_issues("senders: { s: { smart_encoding: maybe, route: [p] } }\n"
                      "providers: { p: { kind: simulator } }\n") ==
        std::vector<std::string>{
            "engine.yaml:1:33: senders.s.smart_encoding: expected true or false, got 'maybe'"});
}

TEST_CASE("a provider's burst is read in segments and must be positive") {
  const auto config = parse_engine_config(
      "providers: { sim: { kind: simulator, rate: 50/s, burst: 200 } }\n", "e.yaml");
  CHECK(config.providers.at("sim").burst == 200);
  CHECK(parse_engine_config("providers: { sim: { kind: simulator } }\n", "e.yaml")
            .providers.at("sim")
            .burst == 0);  // default: 50 ms of rate
  CHECK(engine_issues("providers: { p: { kind: simulator, burst: -1 } }\n") ==
        strings{"engine.yaml:1:43: providers.p.burst: expected a positive number of segments, "
                "got -1"});
}

TEST_CASE("a provider's price_per_segment is an amount and an ISO 4217 code") {
  const auto config = parse_engine_config(
      "providers: { sim: { kind: simulator, price_per_segment: \"0.045 CNY\" } }\n", "e.yaml");
  CHECK(config.providers.at("sim").price_per_segment == doctest::Approx(0.045));
  CHECK(config.providers.at("sim").currency == "CNY");
  CHECK_FALSE(parse_engine_config("providers: { sim: { kind: simulator } }\n", "e.yaml")
                  .providers.at("sim")
                  .price_per_segment);
  for (const char* bad : {"0.045", "0.045 cny", "-1 USD", "USD 0.04", "0.04  USD", "1e9 USD"})
    CHECK(engine_issues(std::string("providers: { p: { kind: simulator, price_per_segment: \"") +
                        bad + "\" } }\n") ==
          strings{std::string("engine.yaml:1:55: providers.p.price_per_segment: expected an "
                              "amount and an ISO 4217 currency code like \"0.045 CNY\" or "
                              "\"0.0079 USD\", got '") +
                  bad + "'"});
}

TEST_CASE("alert thresholds, drain timeout and log format have defaults and can be set") {
  auto defaults = parse_engine_config("database: x.db\n", "engine.yaml");
  CHECK(defaults.alerts.heartbeat_stale == std::chrono::seconds(30));
  CHECK(defaults.alerts.oldest_due_warning == std::chrono::minutes(10));
  CHECK(defaults.alerts.oldest_due_critical == std::chrono::minutes(30));
  CHECK(defaults.alerts.failure_rate_warning == doctest::Approx(0.05));
  CHECK(defaults.drain_timeout == std::chrono::seconds(10));
  CHECK(defaults.logs == log_format::text);

  auto set = parse_engine_config(
      "alerts: { heartbeat_stale: 1m, oldest_due_warning: 5s, oldest_due_critical: 20s,\n"
      "          failure_rate_warning: 1%, failure_rate_critical: 0.5, "
      "retry_backlog_warning: 7 }\n"
      "drain_timeout: 3s\nlog_format: json\n",
      "engine.yaml");
  CHECK(set.alerts.heartbeat_stale == std::chrono::minutes(1));
  CHECK(set.alerts.oldest_due_warning == std::chrono::seconds(5));
  CHECK(set.alerts.oldest_due_critical == std::chrono::seconds(20));
  CHECK(set.alerts.failure_rate_warning == doctest::Approx(0.01));
  CHECK(set.alerts.failure_rate_critical == doctest::Approx(0.5));
  CHECK(set.alerts.retry_backlog_warning == 7);
  CHECK(set.drain_timeout == std::chrono::seconds(3));
  CHECK(set.logs == log_format::json);
}

TEST_CASE("a wrong alert threshold or an unknown alert is reported with its place") {
  CHECK(engine_issues("alerts:\n  oldest_due_warning: soon\n  failure_rate_warning: 2\n"
                      "  heartbeat: 5s\n") ==
        strings{"engine.yaml:2:23: alerts.oldest_due_warning: expected a duration like 30s, 10m "
                "or 1h, got 'soon'",
                "engine.yaml:3:25: alerts.failure_rate_warning: expected a fraction between 0 and "
                "1 (0.05) or a percentage (5%), got '2'",
                "engine.yaml:4:3: unknown key 'heartbeat' in alerts; allowed keys: "
                "heartbeat_stale, oldest_due_warning, oldest_due_critical, failure_rate_warning, "
                "failure_rate_critical, retry_backlog_warning"});
  CHECK(engine_issues("log_format: xml\n") ==
        strings{"engine.yaml:1:13: log_format: expected json or text, got 'xml'"});
}

TEST_CASE("an admin listener off loopback is refused without an admin token") {
  CHECK(engine_issues("listen: { admin: \"0.0.0.0:9090\" }\n") ==
        strings{"engine.yaml:1:18: listen.admin: '0.0.0.0:9090' is not a loopback address, so "
                "admin_token is required (admin_token: ${PIGEON_ADMIN_TOKEN})"});
  CHECK(engine_issues("listen: { admin: \"0.0.0.0:9090\" }\nadmin_token: s3cret\n").empty());
  CHECK(engine_issues("listen: { admin: \"localhost:9090\" }\n").empty());
}

TEST_CASE("policy.window_spread is a duration up to an hour, five minutes by default") {
  CHECK(parse_engine_config("", "e.yaml").policy.window_spread == std::chrono::minutes(5));
  CHECK(parse_engine_config("policy: { window_spread: 10m }\n", "e.yaml").policy.window_spread ==
        std::chrono::minutes(10));
  CHECK(parse_engine_config("policy: { window_spread: 0s }\n", "e.yaml").policy.window_spread ==
        std::chrono::seconds(0));
  CHECK(engine_issues("policy:\n  window_spread: 2h\n") ==
        strings{"engine.yaml:2:18: policy.window_spread: expected a duration from 0s to 1h like "
                "10m, got '2h'"});
  CHECK(engine_issues("policy:\n  window_spread: soon\n") ==
        strings{"engine.yaml:2:18: policy.window_spread: expected a duration from 0s to 1h like "
                "10m, got 'soon'"});
}

TEST_CASE("a CJK signature gets Chinese default confirmations that fit one segment") {
  const auto config = parse_engine_config(
      "providers: { sim: { kind: simulator } }\n"
      "senders:\n"
      "  coffee: { signature: \"【咖啡】\", route: [sim] }\n"
      "  shop: { signature: \"[Shop]\", route: [sim] }\n"
      "  own: { signature: \"【咖啡】\", opt_out_reply: \"已退订\", route: [sim] }\n",
      "e.yaml");
  CHECK(config.senders.at("coffee").opt_out_reply.starts_with("您已退订"));
  CHECK(config.senders.at("coffee").opt_in_reply.starts_with("您已恢复订阅"));
  CHECK(config.senders.at("shop").opt_out_reply.starts_with("You are unsubscribed"));
  CHECK(config.senders.at("own").opt_out_reply == "已退订");
}

TEST_CASE("a reply text over its sender's limit is refused at load with its place") {
  const std::string head = "providers: { sim: { kind: simulator } }\nsenders:\n";
  CHECK(engine_issues(head +
                      "  coffee:\n    signature: \"【咖啡】\"\n    route: [sim]\n"
                      "    help_text: \"" +
                      std::string(70, 'x') + "\"\n") ==
        strings{"engine.yaml:6:16: senders.coffee.help_text: needs 2 SMS segments (UCS-2, 74 units "
                "with the signature); sender 'coffee' allows 1: shorten it or raise "
                "sms_max_segments"});
  // The English default does not fit a one-segment sender with a Korean signature.
  auto issues = engine_issues(head + "  k:\n    signature: \"[상점]\"\n    route: [sim]\n");
  REQUIRE(issues.size() == 1);
  INFO(issues[0]);
  CHECK(issues[0].starts_with("engine.yaml:4:5: senders.k.opt_out_reply (the default: 'You are"));
  CHECK(engine_issues(head + "  s:\n    route: [sim]\n    help_text: \"Hi {{name}}\"\n")
            .at(0)
            .find("uses {{name}} without a default") != std::string::npos);
}

TEST_CASE("a secret from the environment under the wrong key is never printed") {
  setenv("PIGEON_TEST_SECRET", "tw-0123456789abcdef", 1);
  auto issues = engine_issues("public_url: \"${PIGEON_TEST_SECRET}\"\n");
  REQUIRE(issues.size() == 1);
  CHECK(issues[0].find("${PIGEON_TEST_SECRET}") != std::string::npos);
  CHECK(issues[0].find("tw-0123456789abcdef") == std::string::npos);
  try {
    parse_engine_config("log_format: \"${PIGEON_TEST_SECRET}\"\n", "engine.yaml");
    FAIL("expected a config_error");
  } catch (const config_error& e) {
    CHECK(std::string(e.what()).find("tw-0123456789abcdef") == std::string::npos);
  }
}

TEST_CASE("a configuration file larger than the limit is refused before it is parsed") {
  auto path = std::filesystem::temp_directory_path() / "pigeon-config-too-large.yaml";
  {
    std::ofstream out(path, std::ios::binary);
    std::string line = "# " + std::string(1022, 'x') + "\n";
    for (std::uintmax_t written = 0; written <= max_config_bytes; written += line.size())
      out << line;
  }
  try {
    load_engine_config(path.string());
    FAIL("expected a config_error");
  } catch (const config_error& e) {
    CHECK(std::string(e.what()).find("a configuration file may have at most") != std::string::npos);
  }
  std::filesystem::remove(path);
}

TEST_CASE("listen.max_connections caps each listener and names a bad value") {
  CHECK(
      parse_engine_config("listen: { max_connections: 500 }\n", "e.yaml").listen_max_connections ==
      500);
  CHECK(parse_engine_config("database: x.db\n", "e.yaml").listen_max_connections == 0);
  CHECK(engine_issues("listen: { max_connections: 0 }\n") ==
        strings{"engine.yaml:1:28: listen.max_connections: expected 1 to 1000000 connections per "
                "listener, got 0"});
}

TEST_CASE("media_dir is taken from the config file's folder and may not be the root") {
  auto config = parse_engine_config("media_dir: ../assets/\n", "/srv/pigeon/conf/engine.yaml");
  CHECK(config.media_dir == "/srv/pigeon/assets");
  CHECK(config.media_dir_where.line == 1);
  CHECK(parse_engine_config("media_dir: /var/media\n", "engine.yaml").media_dir == "/var/media");
  CHECK(parse_engine_config("{}\n", "engine.yaml").media_dir.empty());
  CHECK(engine_issues("media_dir: \"\"\n") ==
        strings{"engine.yaml:1:12: media_dir: expected a folder, got an empty string"});
  auto root = engine_issues("media_dir: /etc/..\n");
  REQUIRE(root.size() == 1);
  CHECK(root[0].starts_with("engine.yaml:1:12: media_dir: '/etc/..' would serve every file"));
}
