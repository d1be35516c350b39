#include "config/campaign.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "config/engine_config.hpp"
#include "tests/config/test_util.hpp"

using namespace pigeon::config;
using pigeon::config::testing::fixture;
using pigeon::config::testing::issues_of;
using strings = std::vector<std::string>;

namespace {

strings campaign_issues(const std::string& text) {
  return issues_of([&] { parse_campaign(text, "c.yaml"); });
}

// A valid campaign head; tests append their own steps or keys.
const std::string head = "campaign: c\nsender: coffee\n";

std::string one_step(const std::string& step) { return head + "steps:\n  - " + step + "\n"; }

}  // namespace

TEST_CASE("the campaign example from DESIGN.md loads with every value and location") {
  const std::string path = fixture("double11-coffee.yaml");
  const campaign_config c = load_campaign(path);
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();

  CHECK(c.path == path);
  CHECK(c.source_text == text.str());
  CHECK(c.name == "double11-coffee");
  CHECK(c.sender == "coffee");
  CHECK(c.sender_where.to_string() == path + ":2:9");
  CHECK(c.category == "marketing");
  CHECK(c.priority == 5);
  CHECK(c.anchor == "2026-11-11");
  CHECK(c.stop_on == strings{"opt_out", "reply:1", "event:purchase"});
  CHECK(c.audience.all_tags == strings{"member"});
  CHECK(c.audience.any_tags == strings{"stored-value", "coffee-lover"});
  CHECK(c.audience.none_tags == strings{"staff"});
  CHECK(c.audience.where == strings{"last_purchase_days <= 180", "city in [shanghai, hangzhou]"});
  REQUIRE(c.audience.where_locations.size() == 2);
  CHECK(c.audience.where_locations[0].to_string() == path + ":11:11");
  CHECK(c.audience.where_locations[1].to_string() == path + ":11:40");
  CHECK(c.audience.location.to_string() == path + ":8:3");
  REQUIRE(c.window);
  CHECK(c.window->days.size() == 7);
  CHECK(c.window->between == "10:30-11:00");

  REQUIRE(c.steps.size() == 3);
  const step_config& book = c.steps[0];
  CHECK(book.id == "coupon-book");
  CHECK(book.at == "-7d 10:30");
  CHECK(book.at_where.to_string() == path + ":15:9");
  CHECK(book.where.to_string() == path + ":14:5");
  CHECK(book.kind == "mms");
  CHECK_FALSE(book.window);
  REQUIRE(book.variants.size() == 1);
  CHECK(book.variants[0].name == "A");
  CHECK(book.variants[0].weight == 100);
  CHECK(book.variants[0].subject == "双11咖啡券册");
  CHECK(book.variants[0].text == "{{first_name}},您的双11券册已到,季卡+限量杯等你来领");
  CHECK(book.variants[0].media == strings{"assets/coupon-book.jpg"});
  CHECK(book.variants[0].where.to_string() == path + ":18:13");

  const step_config& reminder = c.steps[1];
  CHECK(reminder.kind == "sms");
  REQUIRE(reminder.variants.size() == 2);
  CHECK(reminder.variants[0].name == "A");
  CHECK(reminder.variants[0].weight == 50);
  CHECK(reminder.variants[0].text ==
        "{{first_name}},您的{{coupon|默认券}}还有3天到期,回1领取试用装");
  CHECK(reminder.variants[0].where.to_string() == path + ":24:32");
  CHECK(reminder.variants[1].name == "B");
  CHECK(reminder.variants[1].weight == 50);
  CHECK(reminder.variants[1].where.to_string() == path + ":25:32");

  const step_config& flash = c.steps[2];
  CHECK(flash.at == "0d 15:00");
  REQUIRE(flash.window);
  CHECK(flash.window->days.empty());
  CHECK(flash.window->between == "15:00-16:00");
  REQUIRE(flash.variants.size() == 1);
  CHECK(flash.variants[0].text == "今晚8点闪购倒计时!储值再享9折,回2预约专家回访");

  CHECK(c.replies_valid_for == "7d");
  REQUIRE(c.keywords.size() == 3);
  CHECK(c.keywords[0].keyword == "1");
  CHECK(c.keywords[0].tag == "wants-sample");
  CHECK(c.keywords[0].respond == "试用装已为您预留,到店出示本短信领取");
  CHECK(c.keywords[0].where.to_string() == path + ":33:5");
  CHECK(c.keywords[2].keyword == "3");
  CHECK(c.keywords[2].action == "frequency");
  CHECK(c.keywords[2].tag.empty());
  REQUIRE(c.ab_test);
  CHECK(c.ab_test->metric == "reply:1");
  CHECK(c.ab_test->decide_after == "2d");
  CHECK(c.ab_test->then == "winner");
}

TEST_CASE("the example campaign's sender is defined by the example engine config") {
  setenv("TWILIO_ACCOUNT_SID", "AC123", 1);
  setenv("TWILIO_AUTH_TOKEN", "secret-token", 1);
  setenv("KANNEL_PASSWORD", "kannel-pw", 1);
  const engine_config engine = load_engine_config(fixture("engine.yaml"));
  campaign_config c = load_campaign(fixture("double11-coffee.yaml"));
  CHECK(check_campaign_against(c, engine).empty());

  c = parse_campaign("campaign: c\nsender: tea\nsteps: [{id: a, at: now, sms: {text: hi}}]\n",
                     "c.yaml");
  const auto issues = check_campaign_against(c, engine);
  REQUIRE(issues.size() == 1);
  CHECK(issues[0].to_string() ==
        "c.yaml:2:9: sender: 'tea' is not defined in the engine config (senders: coffee)");
}

TEST_CASE("a campaign without campaign, sender or steps reports each missing key") {
  CHECK(campaign_issues("category: marketing\n") ==
        strings{"c.yaml:1:1: missing required key 'campaign' at the top level",
                "c.yaml:1:1: missing required key 'sender' at the top level",
                "c.yaml:1:1: missing required key 'steps' at the top level"});
  CHECK(campaign_issues(head + "steps: []\n") ==
        strings{"c.yaml:3:8: steps: expected at least one step"});
}

TEST_CASE("defaults apply to category, priority and a step without variants") {
  const auto c = parse_campaign(one_step("{ id: a, at: now, sms: { text: hi } }"), "c.yaml");
  CHECK(c.category == "marketing");
  CHECK(c.priority == 0);
  CHECK(c.anchor.empty());
  CHECK_FALSE(c.window);
  CHECK_FALSE(c.ab_test);
  REQUIRE(c.steps[0].variants.size() == 1);
  CHECK(c.steps[0].variants[0].name == "A");
  CHECK(c.steps[0].variants[0].weight == 100);
  CHECK(c.steps[0].variants[0].where.to_string() == "c.yaml:4:36");
}

TEST_CASE("unknown keys in a campaign are reported with the allowed keys") {
  CHECK(campaign_issues(head + "steps:\n  - { id: a, at: now, sms: { text: hi, txt: x } }\n") ==
        strings{"c.yaml:4:40: unknown key 'txt' in steps[0].sms; allowed keys: text, variants"});
  CHECK(campaign_issues(one_step("{ id: a, at: now, sms: { text: hi } }") + "audince: {}\n") ==
        strings{"c.yaml:5:1: unknown key 'audince' at the top level; allowed keys: campaign, "
                "sender, category, priority, anchor, trigger, stop_on, audience, window, steps, "
                "replies, "
                "ab_test, caps, on_cap, holdout"});
}

TEST_CASE("a step's at accepts now, offsets from the anchor and absolute times") {
  for (std::string at : {"now", "-7d 10:30", "0d 15:00", "+2d 09:00", "-3d",
                         "2026-11-11T10:30:00+08:00", "2026-11-11 10:30", "2026-11-11T02:30Z"}) {
    CAPTURE(at);
    const auto c = parse_campaign(
        "anchor: 2026-11-11\n" + one_step("{ id: a, at: \"" + at + "\", sms: { text: hi } }"),
        "c.yaml");
    CHECK(c.steps[0].at == at);
    CHECK(c.steps[0].at_where.to_string() == "c.yaml:5:18");
  }
  for (std::string at : {"tomorrow", "-7d 25:00", "7 days", "2026-13-01 10:00", "-3d10:30",
                         "2026-11-11T10:30+08", "2026-11-11"}) {
    CAPTURE(at);
    const auto issues = campaign_issues(
        "anchor: 2026-11-11\n" + one_step("{ id: a, at: \"" + at + "\", sms: { text: hi } }"));
    REQUIRE(issues.size() == 1);
    CHECK(issues[0].starts_with("c.yaml:5:18: steps[0].at: expected \"now\""));
  }
}

TEST_CASE("a relative step time without an anchor is reported at the first relative at") {
  CHECK(campaign_issues(head + R"(steps:
  - { id: a, at: now, sms: { text: hi } }
  - { id: b, at: "-1d 10:00", sms: { text: hi } }
  - { id: c, at: "+1d", sms: { text: hi } }
)") == strings{"c.yaml:5:18: steps[1].at: '-1d 10:00' is relative, so the campaign needs an "
               "'anchor' date"});
  CHECK(campaign_issues("anchor: 2026-11-31\n" + one_step("{ id: a, at: now, sms: {text: x} }")) ==
        strings{"c.yaml:1:9: anchor: expected a date YYYY-MM-DD, got '2026-11-31'"});
}

TEST_CASE("a duplicate step id is reported at the second, naming the first") {
  CHECK(campaign_issues(head + R"(steps:
  - { id: a, at: now, sms: { text: hi } }
  - { id: a, at: now, sms: { text: again } }
)") == strings{"c.yaml:5:11: steps[1].id: duplicate step id 'a' (first at c.yaml:4:11)"});
}

TEST_CASE("a step needs exactly one of sms or mms") {
  CHECK(campaign_issues(one_step("{ id: a, at: now }")) ==
        strings{"c.yaml:4:5: missing required key 'sms' or 'mms' in steps[0]"});
  CHECK(campaign_issues(one_step("{ id: a, at: now, sms: { text: x }, mms: { text: y } }")) ==
        strings{"c.yaml:4:46: steps[0]: expected exactly one of 'sms' or 'mms', got both"});
  CHECK(campaign_issues(one_step("{ at: now, sms: { } }")) ==
        strings{"c.yaml:4:5: missing required key 'id' in steps[0]",
                "c.yaml:4:21: missing required key 'text' in steps[0].sms"});
}

TEST_CASE("variant weights must be whole, non-negative, and not all zero") {
  CHECK(campaign_issues(head + R"(steps:
  - id: a
    at: now
    sms:
      variants:
        A: { weight: -5, text: x }
        B: { weight: half, text: z }
)") == strings{"c.yaml:8:22: steps[0].sms.variants.A.weight: expected zero or more, got -5",
               "c.yaml:9:22: steps[0].sms.variants.B.weight: expected a whole number, got "
               "'half'"});
  CHECK(campaign_issues(head + R"(steps:
  - id: a
    at: now
    sms:
      variants:
        A: { weight: 0, text: x }
        B: { weight: 0, text: y }
)") == strings{"c.yaml:8:9: steps[0].sms.variants: at least one variant needs a positive weight"});
}

TEST_CASE("an MMS step may share subject and media across variants") {
  const auto c = parse_campaign(head + R"(steps:
  - id: a
    at: now
    mms:
      subject: Sale
      media: [a.jpg, https://x.test/b.png]
      variants:
        A: { weight: 70, text: one }
        B: { weight: 30, subject: Big sale, media: [c.jpg] }
)",
                                "c.yaml");
  const auto& variants = c.steps[0].variants;
  REQUIRE(variants.size() == 2);
  CHECK(variants[0].subject == "Sale");
  CHECK(variants[0].media == strings{"a.jpg", "https://x.test/b.png"});
  CHECK(variants[0].text == "one");
  CHECK(variants[0].where.to_string() == "c.yaml:10:32");
  CHECK(variants[1].subject == "Big sale");
  CHECK(variants[1].media == strings{"c.jpg"});
  CHECK(variants[1].text.empty());
  CHECK(variants[1].where.to_string() == "c.yaml:11:12");
}

TEST_CASE("windows check their days and their time range, which may cross midnight") {
  const auto c = parse_campaign("window: { days: [fri, sat], between: \"22:00-02:00\" }\n" +
                                    one_step("{ id: a, at: now, sms: { text: x } }"),
                                "c.yaml");
  CHECK(c.window->days == strings{"fri", "sat"});
  CHECK(c.window->between == "22:00-02:00");
  CHECK(c.window->where.to_string() == "c.yaml:1:9");
  CHECK(campaign_issues("window: { days: [mon, Tue, mon], between: \"9:00-10:00\" }\n" +
                        one_step("{ id: a, at: now, sms: { text: x } }")) ==
        strings{"c.yaml:1:23: window.days: expected one of mon, tue, wed, thu, fri, sat, sun, "
                "got 'Tue'",
                "c.yaml:1:28: window.days: 'mon' is listed twice",
                "c.yaml:1:43: window.between: expected HH:MM-HH:MM, got '9:00-10:00'"});
}

TEST_CASE("stop_on, category, replies and ab_test values are checked") {
  CHECK(campaign_issues(head + R"(category: promo
stop_on: [opt_out, "reply:", click]
steps: [{ id: a, at: now, sms: { text: x } }]
replies: { valid_for: week, keywords: { "1": {}, "2": { tag: t, reply: x } } }
ab_test: { metric: opens, decide_after: 2d }
)") == strings{
           "c.yaml:3:11: category: expected marketing or transactional, got 'promo'",
           "c.yaml:4:20: stop_on: expected opt_out, reply:X or event:NAME, got 'reply:'",
           "c.yaml:4:30: stop_on: expected opt_out, reply:X or event:NAME, got 'click'",
           "c.yaml:6:23: replies.valid_for: expected a duration like 7d, 12h or 30m, got "
           "'week'",
           "c.yaml:6:46: replies.keywords.1: expected at least one of tag, respond, action",
           "c.yaml:6:65: unknown key 'reply' in replies.keywords.2; allowed keys: tag, "
           "respond, action, step, max, per",
           "c.yaml:7:10: ab_test: no step has two or more variants to compare",
           "c.yaml:7:20: ab_test.metric: expected delivered, reply:X or event:NAME, got 'opens'"});
}

TEST_CASE("ab_test.sample and min_per_variant are read and checked at their place") {
  const std::string ab_steps =
      "steps: [{ id: a, at: now, sms: { variants: { A: { weight: 1, text: x }, B: { weight: 1, "
      "text: y } } } }]\n";
  auto c = parse_campaign(head + ab_steps +
                              "ab_test: { metric: delivered, decide_after: 1d, sample: 20%, "
                              "min_per_variant: 300 }\n",
                          "c.yaml");
  REQUIRE(c.ab_test);
  CHECK(c.ab_test->sample_percent == 20);
  CHECK(c.ab_test->min_per_variant == 300);
  CHECK(c.ab_test->sample_where.to_string() == "c.yaml:4:57");
  auto defaults = parse_campaign(
      head + ab_steps + "ab_test: { metric: delivered, decide_after: 1d }\n", "c.yaml");
  CHECK(defaults.ab_test->sample_percent == 100);
  CHECK(defaults.ab_test->min_per_variant == 100);
  CHECK(campaign_issues(head + ab_steps +
                        "ab_test: { metric: delivered, decide_after: 1d, sample: 0%, "
                        "min_per_variant: 0 }\n") ==
        strings{"c.yaml:4:57: ab_test.sample: expected a share of the audience from 1% to 100%, "
                "like 20%, got '0%'",
                "c.yaml:4:78: ab_test.min_per_variant: expected a positive number of sends per "
                "variant, got 0"});
}

TEST_CASE(
    "reply keyword actions are checked: follow-ups name a step, frequency takes max and per") {
  CHECK(campaign_issues(head + R"(steps: [{ id: a, at: now, sms: { text: x } }]
replies:
  keywords:
    "1": { action: follow_up, step: b }
    "2": { action: frequency, max: 1 }
    "3": { action: vote }
)") == strings{"c.yaml:6:5: replies.keywords.1.step: no step 'b' in this campaign",
               "c.yaml:7:10: replies.keywords.2: max and per go together",
               "c.yaml:8:20: replies.keywords.3.action: expected frequency, nps or follow_up, got "
               "'vote'"});
}

TEST_CASE("a follow-up step's at counts from the reply; only a follow-up takes a delay") {
  auto c = parse_campaign(head + R"(steps:
  - { id: a, at: now, sms: { text: x } }
  - { id: b, at: "+2h", sms: { text: y } }
  - { id: c, at: "+1d 10:00", sms: { text: z } }
replies:
  keywords:
    "1": { action: follow_up, step: b }
    "2": { action: follow_up, step: c }
)",
                          "c.yaml");
  CHECK(follow_up_of(c, "b")->keyword == "1");
  CHECK(follow_up_of(c, "a") == nullptr);
  // No anchor needed: "+1d 10:00" counts from the reply.
  CHECK(campaign_issues(head + R"(steps:
  - { id: a, at: "+2h", sms: { text: x } }
  - { id: b, at: "-1d 10:00", sms: { text: y } }
replies:
  keywords:
    "1": { action: follow_up, step: b }
)") == strings{"c.yaml:4:18: steps[0].at: '+2h' is a delay after a reply: only a step named by "
               "a keyword's follow_up can use it; use an offset from the anchor like \"0d "
               "15:00\", a time, or \"now\"",
               "c.yaml:5:18: steps[1].at: '-1d 10:00' cannot count from a reply, and step 'b' "
               "is a follow-up (replies.keywords.1): use \"now\", a delay like \"+2h\" or a "
               "day and time like \"+1d 10:00\""});
  CHECK(campaign_issues(head + R"(steps:
  - { id: a, at: now, sms: { text: x } }
replies:
  keywords:
    "1": { action: follow_up, step: a }
)") == strings{"c.yaml:4:5: steps: every step is a follow-up, so nothing is ever sent and no "
               "reply can queue one; give the first message its own step"});
}

TEST_CASE("${ENV} references in a campaign are substituted and unset ones reported") {
  setenv("PIGEON_TEST_BRAND", "Bean", 1);
  unsetenv("PIGEON_TEST_NOPE");
  const auto c = parse_campaign(one_step("{ id: a, at: now, sms: { text: \"${PIGEON_TEST_BRAND} "
                                         "costs $5\" } }"),
                                "c.yaml");
  CHECK(c.steps[0].variants[0].text == "Bean costs $5");
  CHECK(c.source_text.find("${PIGEON_TEST_BRAND}") != std::string::npos);
  CHECK(campaign_issues(one_step("{ id: a, at: now, sms: { text: \"${PIGEON_TEST_NOPE}\" } }")) ==
        strings{"c.yaml:4:36: environment variable PIGEON_TEST_NOPE is not set"});
}

TEST_CASE("every issue in a campaign is reported together") {
  const auto issues = campaign_issues(R"(campaign: c
priority: high
steps:
  - { id: a, at: soon, sms: { text: x } }
  - { id: a, at: now, mms: { subject: s } }
)");
  CHECK(issues == strings{"c.yaml:1:1: missing required key 'sender' at the top level",
                          "c.yaml:2:11: priority: expected a whole number, got 'high'",
                          "c.yaml:4:18: steps[0].at: expected \"now\", an offset from the anchor "
                          "like \"-7d 10:30\", "
                          "or a time like 2026-11-11T10:30:00+08:00, got 'soon'",
                          "c.yaml:5:11: steps[1].id: duplicate step id 'a' (first at c.yaml:4:11)",
                          "c.yaml:5:28: steps[1].mms: an MMS needs 'text' or 'media'"});
}

TEST_CASE("a campaign with a YAML syntax error or a missing file is a config_error") {
  const auto issues = campaign_issues("campaign: c\nsteps:\n  - id: a\n   at: now\n");
  REQUIRE(issues.size() == 1);
  CHECK(issues[0].starts_with("c.yaml:4:"));
  CHECK(issues[0].find("YAML syntax error") != std::string::npos);
  const std::string path = fixture("missing-campaign.yaml");
  CHECK(issues_of([&] { load_campaign(path); }) ==
        strings{path + ": cannot read the file: No such file or directory"});
}

TEST_CASE("a campaign that is not a map is reported as such") {
  CHECK(campaign_issues("- a\n- b\n") == strings{"c.yaml:1:1: expected a map, got a list"});
}

TEST_CASE("a campaign cap and on_cap are read, and bad values are reported with their place") {
  const auto c = parse_campaign(one_step("{ id: a, at: now, sms: { text: hi } }") +
                                    "caps: { max: 1, per: 7d }\non_cap: drop\n",
                                "c.yaml");
  REQUIRE(c.caps);
  CHECK(c.caps->max == 1);
  CHECK(c.caps->per == std::chrono::hours(24 * 7));
  CHECK(c.on_cap == "drop");
  CHECK(parse_campaign(one_step("{ id: a, at: now, sms: { text: hi } }"), "c.yaml").on_cap ==
        "defer");
  CHECK(campaign_issues(one_step("{ id: a, at: now, sms: { text: hi } }") +
                        "caps: { max: 0, per: week, every: 1 }\non_cap: later\n") ==
        strings{"c.yaml:5:14: caps.max: expected 1 or more, got 0 (to send nothing, leave the "
                "recipients out of the audience)",
                "c.yaml:5:22: caps.per: expected a duration like 1d, 7d, 12h or 30m, got 'week'",
                "c.yaml:5:28: unknown key 'every' in caps; allowed keys: max, per",
                "c.yaml:6:9: on_cap: expected defer or drop, got 'later'"});
}

TEST_CASE("ab_test: then must be winner, the metric known and decide_after a positive duration") {
  const std::string ab_steps = R"(steps:
  - id: a
    at: now
    sms: { variants: { A: { text: x }, B: { text: y } } }
replies: { keywords: { "1": { tag: t } } }
)";
  CHECK(campaign_issues(head + ab_steps +
                        "ab_test: { metric: \"reply:2\", decide_after: soon, then: both }\n") ==
        strings{"c.yaml:8:20: ab_test.metric: reply keyword '2' is not one of replies.keywords",
                "c.yaml:8:45: ab_test.decide_after: expected a duration like 7d, 12h or 30m, got "
                "'soon'",
                "c.yaml:8:57: ab_test.then: expected winner, got 'both'"});
  CHECK(campaign_issues(head + ab_steps + "ab_test: { metric: delivered, decide_after: 0h }\n") ==
        strings{"c.yaml:8:45: ab_test.decide_after: expected a duration like 7d, 12h or 30m, got "
                "'0h'"});
  auto c = parse_campaign(head + ab_steps + "ab_test: { metric: \"reply:1\", decide_after: 2d }\n",
                          "c.yaml");
  REQUIRE(c.ab_test);
  CHECK(c.ab_test->then == "winner");  // the default
}
