#include "config/engine_config.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

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

void set_design_env() {
  setenv("TWILIO_ACCOUNT_SID", "AC123", 1);
  setenv("TWILIO_AUTH_TOKEN", "secret-token", 1);
  setenv("KANNEL_PASSWORD", "kannel-pw", 1);
}

}  // namespace

TEST_CASE("the engine config example from DESIGN.md loads with every value") {
  set_design_env();
  const std::string path = fixture("engine.yaml");
  const engine_config config = load_engine_config(path);

  CHECK(config.path == path);
  CHECK(config.database == "var/pigeon.db");
  CHECK(config.listen_webhooks == "127.0.0.1:8080");
  CHECK(config.listen_admin == "127.0.0.1:9090");
  CHECK(config.public_url == "https://sms.example.com");
  CHECK(config.default_timezone == "Asia/Shanghai");
  CHECK(config.default_region.empty());

  const policy_config& policy = config.policy;
  CHECK(policy.quiet_hours == "21:00-08:00");
  CHECK(policy.tiers == std::map<std::string, std::string>{{"active", "last_active_days <= 30"},
                                                           {"dormant", "last_active_days > 90"}});
  REQUIRE(policy.frequency.size() == 3);
  CHECK(policy.frequency[0].tier == "active");
  CHECK(policy.frequency[0].max == 2);
  CHECK(policy.frequency[0].per == std::chrono::days{7});
  CHECK(policy.frequency[0].where.to_string() == path + ":11:7");
  CHECK(policy.frequency[1].per == std::chrono::days{30});
  CHECK(policy.frequency[2].calendar == "holidays");
  CHECK(policy.frequency[2].tier.empty());
  CHECK(policy.frequency[2].per == std::chrono::days{1});
  CHECK(policy.calendars.at("holidays") == strings{"2026-10-01", "2026-10-02", "2026-11-11"});
  CHECK(policy.opt_out_keywords.size() == 12);
  CHECK(policy.opt_out_keywords[7] == "OPT OUT");
  CHECK(policy.opt_out_keywords[11] == "退订");
  CHECK(policy.opt_in_keywords == strings{"START", "UNSTOP", "YES"});
  CHECK(policy.help_keywords == strings{"HELP", "INFO"});

  REQUIRE(config.senders.size() == 1);
  const sender_config& coffee = config.senders.at("coffee");
  CHECK(coffee.name == "coffee");
  CHECK(coffee.signature == "【咖啡】");
  CHECK(coffee.opt_out_hint == "回T退订");
  CHECK(coffee.sms_max_segments == 1);
  CHECK(coffee.mms_max_bytes == 512000);
  CHECK(coffee.help_text == "咖啡会员服务,客服400-000-0000,回T退订");
  CHECK(coffee.route == strings{"main", "backup"});
  CHECK(coffee.where.to_string() == path + ":21:5");

  REQUIRE(config.providers.size() == 4);
  const provider_config& main = config.providers.at("main");
  CHECK(main.name == "main");
  CHECK(main.kind == "twilio");
  CHECK(main.rate_per_second == doctest::Approx(100));
  CHECK(main.concurrency == 32);
  CHECK(main.where.to_string() == path + ":28:11");
  CHECK(main.settings.size() == 4);
  CHECK(main.settings.at("base_url").value == "https://api.twilio.com");
  CHECK(main.settings.at("account_sid").value == "AC123");
  CHECK(main.settings.at("auth_token").value == "secret-token");
  CHECK(main.settings.at("auth_token").where.to_string() == path + ":29:25");
  CHECK(main.settings.at("from").value == "+15550001111");
  CHECK_FALSE(main.settings.contains("kind"));
  CHECK_FALSE(main.settings.contains("rate"));

  const provider_config& backup = config.providers.at("backup");
  CHECK(backup.kind == "kannel");
  CHECK(backup.rate_per_second == doctest::Approx(50));
  CHECK(backup.concurrency == 16);
  CHECK(backup.settings.at("password").value == "kannel-pw");
  CHECK(backup.settings.at("username").value == "pigeon");

  const provider_config& gateway = config.providers.at("gateway");
  CHECK(gateway.kind == "generic-http");
  CHECK(gateway.rate_per_second == doctest::Approx(1000));
  CHECK(gateway.concurrency == 64);
  CHECK(gateway.settings.at("body").value ==
        R"({"to":"{{to}}","from":"{{from}}","text":"{{text}}","ref":"{{id}}"})");
  CHECK(gateway.settings.at("id_pointer").value == "/message_id");
  CHECK(gateway.settings.at("method").value == "POST");

  const provider_config& sandbox = config.providers.at("sandbox");
  CHECK(sandbox.kind == "simulator");
  CHECK(sandbox.rate_per_second == 0);
  CHECK(sandbox.settings.empty());
}

TEST_CASE("an empty engine config takes every default from the struct initialisers") {
  const engine_config config = parse_engine_config("", "engine.yaml");
  const engine_config defaults;
  CHECK(config.path == "engine.yaml");
  CHECK(config.database == defaults.database);
  CHECK(config.listen_webhooks == "127.0.0.1:8080");
  CHECK(config.listen_admin == "127.0.0.1:9090");
  CHECK(config.default_timezone == "UTC");
  CHECK(config.default_region.empty());
  CHECK(config.policy.quiet_hours.empty());
  CHECK(config.policy.opt_out_keywords == defaults.policy.opt_out_keywords);
  CHECK(config.policy.help_keywords == strings{"HELP", "INFO"});
  CHECK(config.senders.empty());
  CHECK(config.providers.empty());
}

TEST_CASE("a provider without rate or concurrency gets unlimited rate and 16 in flight") {
  const auto config = parse_engine_config("providers: { sim: { kind: simulator } }\n", "e.yaml");
  CHECK(config.providers.at("sim").rate_per_second == 0);
  CHECK(config.providers.at("sim").concurrency == 16);
}

TEST_CASE("a node name is read, and one that could not name a node is refused at its place") {
  CHECK(parse_engine_config("database: x.db\n", "e.yaml").node.empty());
  CHECK(parse_engine_config("node: sh-1.a_b\n", "e.yaml").node == "sh-1.a_b");
  CHECK(engine_issues("node: \"a b\"\n") ==
        strings{"engine.yaml:1:7: node: expected a name of letters, digits, '.', '_' and '-' "
                "(at most 63), got 'a b'"});
  CHECK(engine_issues("node: " + std::string(64, 'n') + "\n").size() == 1);
}

TEST_CASE("an unknown top-level key is reported with its line and column and the allowed keys") {
  CHECK(engine_issues("database: x.db\nrate_limit: 5\n") ==
        strings{"engine.yaml:2:1: unknown key 'rate_limit' at the top level; allowed keys: "
                "database, listen, public_url, default_timezone, default_region, "
                "reconcile_grace, policy, senders, providers, alerts, admin_token, "
                "admin_hosts, drain_timeout, log_format, media_dir, node"});
}

TEST_CASE("a public_url with a query or a fragment is refused: receipts would be lost") {
  CHECK(engine_issues("public_url: \"http://gw.example.com/base?x=1\"\n") ==
        strings{"engine.yaml:1:13: public_url: must not carry a query or fragment (webhook paths "
                "are appended to it), got 'http://gw.example.com/base?x=1'"});
  CHECK(engine_issues("public_url: \"http://gw.example.com/base#frag\"\n").size() == 1);
  CHECK(engine_issues("public_url: \"http://gw.example.com/base\"\n").empty());
}

TEST_CASE("admin_hosts names the admin listener's extra host names, lower-cased") {
  const auto config =
      parse_engine_config("admin_hosts: [Ops.Example.com, \"ops:9443\"]\n", "e.yaml");
  CHECK(config.admin_hosts == std::vector<std::string>{"ops.example.com", "ops:9443"});
  CHECK(engine_issues("admin_hosts: [\"http://ops.example.com/\"]\n").size() == 1);
}

TEST_CASE("reconcile_grace defaults to 30 seconds, takes a duration and names a bad one") {
  CHECK(parse_engine_config("database: x.db\n", "e.yaml").reconcile_grace ==
        std::chrono::seconds(30));
  CHECK(parse_engine_config("reconcile_grace: 0s\n", "e.yaml").reconcile_grace ==
        std::chrono::seconds(0));
  CHECK(engine_issues("reconcile_grace: soon\n") ==
        strings{"engine.yaml:1:18: reconcile_grace: expected a duration like 30s or 2m, got "
                "'soon'"});
}

TEST_CASE("an unknown key in a nested map names the map and its allowed keys") {
  CHECK(engine_issues("listen: { webhooks: \"0.0.0.0:80\", admn: \"x\" }\n") ==
        strings{"engine.yaml:1:35: unknown key 'admn' in listen; allowed keys: webhooks, admin, "
                "max_connections"});
  CHECK(engine_issues("senders:\n  coffee:\n    route: [sim]\n    sigature: x\n"
                      "providers: { sim: { kind: simulator } }\n") ==
        strings{"engine.yaml:4:5: unknown key 'sigature' in senders.coffee; allowed keys: "
                "signature, opt_out_hint, sms_max_segments, mms_max_bytes, help_text, "
                "smart_encoding, route, opt_out_reply, opt_in_reply"});
}

TEST_CASE("unknown keys in a provider map are kept as settings for the provider to check") {
  const auto config =
      parse_engine_config("providers:\n  sim: { kind: simulator, speed: fast }\n", "engine.yaml");
  const setting& speed = config.providers.at("sim").settings.at("speed");
  CHECK(speed.value == "fast");
  CHECK(speed.where.to_string() == "engine.yaml:2:34");
}

TEST_CASE("nested provider maps flatten to dotted keys and lists join with commas") {
  const auto config = parse_engine_config(R"(providers:
  gw:
    kind: generic-http
    headers: { X-Api-Key: k1, X-Tenant: { id: 7 } }
    codes: [200, 201, 202]
    empty:
)",
                                          "engine.yaml");
  const auto& settings = config.providers.at("gw").settings;
  CHECK(settings.at("headers.X-Api-Key").value == "k1");
  CHECK(settings.at("headers.X-Api-Key").where.to_string() == "engine.yaml:4:27");
  CHECK(settings.at("headers.X-Tenant.id").value == "7");
  CHECK(settings.at("codes").value == "200,201,202");
  CHECK(settings.at("empty").value.empty());
  CHECK(settings.size() == 4);
}

TEST_CASE("a value of the wrong type is reported as expected versus got") {
  SUBCASE("a map where a number belongs") {
    CHECK(engine_issues("providers:\n  m: { kind: twilio, concurrency: { a: 1 } }\n") ==
          strings{"engine.yaml:2:35: providers.m.concurrency: expected a number, got a map"});
  }
  SUBCASE("text where a map belongs") {
    CHECK(engine_issues("listen: 8080\n") ==
          strings{"engine.yaml:1:9: listen: expected a map, got '8080'"});
  }
  SUBCASE("text where a whole number belongs") {
    CHECK(engine_issues("senders: { s: { route: [p], sms_max_segments: two } }\n"
                        "providers: { p: { kind: simulator } }\n") ==
          strings{"engine.yaml:1:47: senders.s.sms_max_segments: expected a whole number, got "
                  "'two'"});
  }
  SUBCASE("a list where text belongs") {
    CHECK(engine_issues("database: [a, b]\n") ==
          strings{"engine.yaml:1:11: database: expected text, got a list"});
  }
  SUBCASE("text where a list belongs") {
    CHECK(engine_issues("policy: { keywords: { help: HELP } }\n") ==
          strings{"engine.yaml:1:29: policy.keywords.help: expected a list, got 'HELP'"});
  }
}

TEST_CASE("a provider without kind, or with an unknown kind, is reported") {
  CHECK(engine_issues("providers:\n  a: { rate: 5/s }\n  b: { kind: smpp }\n") ==
        strings{"engine.yaml:2:6: missing required key 'kind' in providers.a",
                "engine.yaml:3:14: providers.b.kind: unknown provider kind 'smpp'; expected one "
                "of twilio, kannel, generic-http, simulator"});
}

TEST_CASE("provider rates are read per second, per minute and per hour") {
  auto rate = [](const std::string& text) {
    return parse_engine_config("providers: { p: { kind: simulator, rate: " + text + " } }\n",
                               "engine.yaml")
        .providers.at("p")
        .rate_per_second;
  };
  CHECK(rate("100/s") == doctest::Approx(100));
  CHECK(rate("50/s") == doctest::Approx(50));
  CHECK(rate("6000/min") == doctest::Approx(100));
  CHECK(rate("3600/h") == doctest::Approx(1));
  CHECK(rate("0.5/s") == doctest::Approx(0.5));
  for (std::string bad : {"100", "100/day", "-1/s", "0/s", "/s", "fast"}) {
    CAPTURE(bad);
    auto issues = engine_issues("providers: { p: { kind: simulator, rate: " + bad + " } }\n");
    REQUIRE(issues.size() == 1);
    CHECK(issues[0] ==
          "engine.yaml:1:42: providers.p.rate: expected a positive rate like "
          "100/s, 6000/min or 3600/h, got '" +
              bad + "'");
  }
}

TEST_CASE("concurrency must be a positive number") {
  CHECK(engine_issues("providers: { p: { kind: simulator, concurrency: 0 } }\n") ==
        strings{"engine.yaml:1:49: providers.p.concurrency: expected a positive number, got 0"});
}

TEST_CASE("a sender routing to an undefined provider is reported at the route entry") {
  CHECK(engine_issues(R"(senders:
  coffee:
    route: [main, missing, main]
providers:
  main: { kind: simulator }
)") == strings{"engine.yaml:3:19: senders.coffee.route: provider 'missing' is not defined "
               "under providers",
               "engine.yaml:3:28: senders.coffee.route: provider 'main' is listed twice"});
  CHECK(engine_issues("senders: { s: { signature: x } }\n") ==
        strings{"engine.yaml:1:15: missing required key 'route' in senders.s"});
}

TEST_CASE("${ENV} references are substituted anywhere inside a string") {
  setenv("PIGEON_TEST_HOST", "gw.example.com", 1);
  const auto config = parse_engine_config(R"(public_url: "https://${PIGEON_TEST_HOST}/cb"
providers:
  p: { kind: generic-http, url: "http://${PIGEON_TEST_HOST}:${PIGEON_TEST_HOST}", price: "$5 $ {x}" }
)",
                                          "engine.yaml");
  CHECK(config.public_url == "https://gw.example.com/cb");
  CHECK(config.providers.at("p").settings.at("url").value ==
        "http://gw.example.com:gw.example.com");
  CHECK(config.providers.at("p").settings.at("price").value == "$5 $ {x}");
}

TEST_CASE("an unset environment variable is an issue at the string that names it") {
  unsetenv("PIGEON_TEST_UNSET");
  CHECK(
      engine_issues("providers:\n  p: { kind: twilio, auth_token: \"${PIGEON_TEST_UNSET}\" }\n") ==
      strings{"engine.yaml:2:34: environment variable PIGEON_TEST_UNSET is not set"});
  CHECK(engine_issues("database: \"${bad name}\"\npublic_url: \"${OPEN\"\n") ==
        strings{"engine.yaml:1:11: '${bad name}' is not a valid environment variable reference",
                "engine.yaml:2:13: unterminated ${ in '${OPEN'"});
}

TEST_CASE("reading commands leave the unset secrets of providers and admin_token as written") {
  unsetenv("PIGEON_TEST_UNSET");
  const std::string yaml = R"(admin_token: "${PIGEON_TEST_UNSET}"
listen: { admin: "0.0.0.0:9090" }
providers:
  p: { kind: twilio, auth_token: "tok-${PIGEON_TEST_UNSET}", from: "+15550001111" }
)";
  const auto config = parse_engine_config(yaml, "engine.yaml", secrets::leave_unset);
  CHECK(config.providers.at("p").settings.at("auth_token").value == "tok-${PIGEON_TEST_UNSET}");
  CHECK(config.admin_token == "${PIGEON_TEST_UNSET}");
  // everything else is still checked: an unset reference outside the secrets is an issue
  CHECK_THROWS_AS(parse_engine_config("public_url: \"https://${PIGEON_TEST_UNSET}\"\n",
                                      "engine.yaml", secrets::leave_unset),
                  config_error);
  CHECK_THROWS_AS(parse_engine_config(yaml, "engine.yaml"), config_error);
}

TEST_CASE("frequency rules check their duration, their tier or calendar, and their shape") {
  CHECK(engine_issues(R"(policy:
  tiers: { active: "x > 1" }
  frequency:
    - { tier: active, max: 2, per: 7 }
    - { tier: gold, max: 1, per: 30d }
    - { calendar: holidays, max: 2, per: 1d }
    - { tier: active, calendar: holidays, max: -1 }
)") == strings{"engine.yaml:4:36: policy.frequency[0].per: expected a duration like 1d, 7d, 12h "
               "or 30m, got '7'",
               "engine.yaml:5:15: policy.frequency[1].tier: tier 'gold' is not defined under "
               "policy.tiers",
               "engine.yaml:6:19: policy.frequency[2].calendar: calendar 'holidays' is not "
               "defined under policy.calendars",
               "engine.yaml:7:7: policy.frequency[3]: expected exactly one of 'tier' or "
               "'calendar'",
               "engine.yaml:7:7: missing required key 'per' in policy.frequency[3]",
               "engine.yaml:7:48: policy.frequency[3].max: expected zero or more, got -1"});
}

TEST_CASE("time zone, region, quiet hours, dates and addresses are validated") {
  CHECK(engine_issues(R"(default_timezone: Asia/Shangai
default_region: China
listen: { admin: "localhost" }
public_url: sms.example.com
policy:
  quiet_hours: "21:00 to 08:00"
  calendars: { holidays: [2026-02-30] }
  keywords: { opt_in: [STOP] }
)") == strings{"engine.yaml:1:19: default_timezone: 'Asia/Shangai' is not an IANA time zone "
               "(like Asia/Shanghai)",
               "engine.yaml:2:17: default_region: expected a two-letter ISO 3166 region like CN "
               "or US, got 'China'",
               "engine.yaml:3:18: listen.admin: expected host:port, got 'localhost'",
               "engine.yaml:4:13: public_url: expected an http:// or https:// URL, got "
               "'sms.example.com'",
               "engine.yaml:6:16: policy.quiet_hours: expected HH:MM-HH:MM, got '21:00 to 08:00'",
               "engine.yaml:7:27: policy.calendars.holidays: expected a date YYYY-MM-DD, got "
               "'2026-02-30'",
               "engine.yaml:8:23: policy.keywords: keyword 'STOP' is in both opt_out and "
               "opt_in"});
}

TEST_CASE("default_region is read as an upper-case ISO region") {
  CHECK(parse_engine_config("default_region: cn\n", "e.yaml").default_region == "CN");
  CHECK(parse_engine_config("default_region: US\n", "e.yaml").default_region == "US");
}

TEST_CASE("columns count characters, not bytes, after non-ASCII text") {
  CHECK(engine_issues("senders: { s: { signature: \"咖啡\", route: 5 } }\n") ==
        strings{"engine.yaml:1:41: senders.s.route: expected a list, got '5'"});
}

TEST_CASE("a key given twice in one map is reported at the second") {
  CHECK(engine_issues("database: a.db\ndatabase: b.db\n") ==
        strings{"engine.yaml:2:1: duplicate key 'database' at the top level (first at "
                "engine.yaml:1:1)"});
}

TEST_CASE("every issue in a file is reported together, in file order") {
  const auto issues = engine_issues(R"(databse: x
listen: { webhooks: 80 }
providers:
  p: { kind: carrier-pigeon, rate: lots }
senders:
  s: { route: [q] }
)");
  CHECK(issues.size() == 5);
  CHECK(issues[0].starts_with("engine.yaml:1:1: unknown key 'databse'"));
  CHECK(issues[1].starts_with("engine.yaml:2:21: listen.webhooks: expected host:port"));
  CHECK(issues[2].starts_with("engine.yaml:4:14: providers.p.kind: unknown provider kind"));
  CHECK(issues[3].starts_with("engine.yaml:4:36: providers.p.rate"));
  CHECK(issues[4].starts_with("engine.yaml:6:16: senders.s.route: provider 'q'"));
}

TEST_CASE("config_error's message lists every issue, one per line") {
  try {
    parse_engine_config("a: 1\nb: 2\n", "engine.yaml");
    FAIL("expected config_error");
  } catch (const config_error& error) {
    CHECK(error.issues().size() == 2);
    CHECK(
        std::string(error.what()) ==
        "engine.yaml:1:1: unknown key 'a' at the top level; allowed keys: database, listen, "
        "public_url, default_timezone, default_region, reconcile_grace, policy, senders, "
        "providers, alerts, admin_token, admin_hosts, drain_timeout, log_format, media_dir, node\n"
        "engine.yaml:2:1: unknown key 'b' at the top level; allowed keys: database, listen, "
        "public_url, default_timezone, default_region, reconcile_grace, policy, senders, "
        "providers, alerts, admin_token, admin_hosts, drain_timeout, log_format, media_dir, "
        "node");
  }
}

TEST_CASE("a YAML syntax error becomes a config_error with its line and column") {
  const auto issues = engine_issues("database: x\nlisten: { webhooks: \"a\n");
  REQUIRE(issues.size() == 1);
  CHECK(issues[0].starts_with("engine.yaml:3:1: YAML syntax error: "));
  const auto bad_indent = engine_issues("policy:\n  quiet_hours: x\n bad: [\n");
  REQUIRE(bad_indent.size() == 1);
  CHECK(bad_indent[0].starts_with("engine.yaml:3:"));
}

TEST_CASE("a missing engine config file is a config_error naming the path") {
  const std::string path = fixture("no-such-engine.yaml");
  CHECK(issues_of([&] { load_engine_config(path); }) ==
        strings{path + ": cannot read the file: No such file or directory"});
  CHECK(issues_of([&] { load_engine_config(fixture("")); }) ==
        strings{fixture("") + ": cannot read the file: it is a directory"});
}

TEST_CASE("a location without a file prints as <default>") {
  CHECK(source_location{}.to_string() == "<default>");
  CHECK(source_location{"a.yaml", 3, 7}.to_string() == "a.yaml:3:7");
  CHECK(config_issue{{"a.yaml", 3, 7}, "bad"}.to_string() == "a.yaml:3:7: bad");
}
