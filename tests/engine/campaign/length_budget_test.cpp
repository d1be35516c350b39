#include "engine/campaign/length_budget.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "engine/campaign/apply.hpp"
#include "engine/model/phone.hpp"
#include "engine/store/sqlite/sqlite_store.hpp"

using namespace pigeon;
using namespace pigeon::engine;
using namespace pigeon::engine::campaign;
using namespace pigeon::engine::sqlite;

namespace {

config::engine_config engine_with(std::string signature = "", std::string hint = "",
                                  int max_segments = 1, long mms_max = 512000) {
  config::engine_config e;
  config::sender_config s;
  s.name = "shop";
  s.signature = std::move(signature);
  s.opt_out_hint = std::move(hint);
  s.sms_max_segments = max_segments;
  s.mms_max_bytes = mms_max;
  s.route = {"carrier"};
  e.senders["shop"] = s;
  return e;
}

config::campaign_config campaign_with(std::string text, std::string kind = "sms",
                                      std::string category = "transactional") {
  config::campaign_config c;
  c.name = "promo";
  c.sender = "shop";
  c.category = std::move(category);
  c.path = "/tmp/promo.yaml";
  config::step_config s;
  s.id = "hello";
  s.at = "now";
  s.kind = std::move(kind);
  config::variant_config v;
  v.name = "A";
  v.text = std::move(text);
  v.where = {"/tmp/promo.yaml", 7, 20};
  s.variants.push_back(v);
  c.steps.push_back(s);
  return c;
}

contact person(int i, std::string first_name) {
  contact c;
  c.id = i;
  c.phone = "+86139" + std::to_string(10000000 + i);
  if (!first_name.empty()) c.attributes["first_name"] = first_name;
  return c;
}

contact_source from(std::vector<contact> people) {
  return [people = std::move(people)](const std::function<void(const contact&)>& fn) {
    for (const auto& c : people) fn(c);
  };
}

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

std::string joined_issues(const budget_report& r) {
  std::string out;
  for (const auto& i : r.issues()) out += i.to_string() + "\n";
  return out;
}

}  // namespace

TEST_CASE("a 70-character UCS-2 text fits one segment and a 71-character one names who overflows") {
  auto campaign = campaign_with("你好{{first_name}}" + repeat("好", 60));  // 62 + name
  auto r = check_budget(campaign, engine_with(),
                        from({person(1, repeat("张", 8)), person(2, repeat("张", 9))}), {});
  REQUIRE(r.findings.size() == 1);
  const auto& f = r.findings[0];
  CHECK(f.problem == budget_problem::sms_overflow);
  CHECK(f.recipients == 1);
  CHECK_FALSE(f.worst_case);
  REQUIRE(f.examples.size() == 1);
  CHECK(f.examples[0].phone == mask_phone("+8613910000002"));
  CHECK(f.examples[0].segments == 2);
  CHECK(f.examples[0].total_units == 71);
  CHECK(f.examples[0].enc == templates::encoding::ucs2);
  CHECK(f.examples[0].values.at(0).second == repeat("张", 9));
  auto text = joined_issues(r);
  CHECK(text.find("/tmp/promo.yaml:7:20:") == 0);
  CHECK(text.find("+86*********02") != std::string::npos);
  CHECK(text.find("first_name=\"" + repeat("张", 9) + "\"") != std::string::npos);
  CHECK(text.find("+86*********01") == std::string::npos);
  CHECK(r.variants.at(0).max_segments == 2);
}

TEST_CASE("recipients whose names render the same text are each counted, and differ by name") {
  // Alternating names: the second recipient with a name renders a text already counted.
  auto campaign = campaign_with("你好{{first_name}}" + repeat("好", 60), "sms", "marketing");
  auto e = engine_with("【店】", "", 1);  // 3 units of signature: 65 + name
  std::vector<contact> people;
  for (int i = 1; i <= 6; ++i)
    people.push_back(person(i, i % 2 ? repeat("张", 5) : repeat("张", 6)));
  auto r = check_budget(campaign, e, from(people), {});
  REQUIRE(r.findings.size() == 1);
  const auto& f = r.findings[0];
  CHECK(f.recipients == 3);  // the three six-character names, not the five-character ones
  REQUIRE(f.examples.size() == 3);
  for (std::size_t k = 0; k < 3; ++k) {
    CHECK(f.examples[k].contact_id == static_cast<std::int64_t>(2 * k + 2));
    CHECK(f.examples[k].segments == 2);
    CHECK(f.examples[k].total_units == 71);
    CHECK(f.examples[k].units == std::vector<int>{67, 4});
    CHECK(f.examples[k].enc == templates::encoding::ucs2);
    CHECK(f.examples[k].values.at(0).second == repeat("张", 6));
  }
  CHECK(r.variants.at(0).recipients == 6);
  CHECK(r.variants.at(0).max_segments == 2);
  // The same names with a two-segment sender: nobody overflows.
  CHECK(check_budget(campaign, engine_with("【店】", "", 2), from(people), {}).ok());
}

TEST_CASE("the signature and the opt-out hint count toward the budget") {
  auto text = repeat("好", 64);
  CHECK(check_budget(campaign_with(text, "sms", "marketing"), engine_with(), from({}), {}).ok());
  auto r = check_budget(campaign_with(text, "sms", "marketing"), engine_with("【咖啡】", "回T退订"),
                        from({}), {});
  REQUIRE(r.findings.size() == 1);
  CHECK(r.findings[0].worst_case);
  CHECK(r.findings[0].examples.at(0).total_units == 4 + 64 + 4);
  // The hint is only for marketing.
  auto transactional =
      check_budget(campaign_with(text), engine_with("【咖啡】", "回T退订"), from({}), {});
  CHECK(transactional.ok());
  CHECK(transactional.variants.at(0).max_segments == 1);
}

TEST_CASE("two allowed segments take 134 UCS-2 units but not 135") {
  auto e = engine_with("", "", 2);
  CHECK(check_budget(campaign_with(repeat("好", 134)), e, from({person(1, "x")}), {}).ok());
  auto r = check_budget(campaign_with(repeat("好", 135)), e, from({person(1, "x")}), {});
  REQUIRE(r.findings.size() == 1);
  CHECK(r.findings[0].recipients == 1);
  CHECK(r.findings[0].examples.back().segments == 3);
}

TEST_CASE("recipients missing an attribute with no default are reported per step and variant") {
  std::vector<contact> people;
  for (int i = 0; i < 25; ++i) people.push_back(person(i + 1, i % 5 == 0 ? "Ann" : ""));
  auto r = check_budget(campaign_with("Hi {{first_name}}"), engine_with(), from(people), {});
  REQUIRE(r.findings.size() == 1);
  const auto& f = r.findings[0];
  CHECK(f.problem == budget_problem::missing_attributes);
  CHECK(f.recipients == 20);
  CHECK(f.examples.size() == max_budget_examples);
  CHECK(f.examples[0].missing == std::vector<std::string>{"first_name"});
  CHECK(f.examples[0].values.at(0).second == "(missing)");
  // With a default nobody is missing anything.
  CHECK(check_budget(campaign_with("Hi {{first_name|friend}}"), engine_with(), from(people), {})
            .ok());
}

TEST_CASE("a list longer than twenty examples says how many more there are") {
  std::vector<contact> people;
  for (int i = 0; i < 23; ++i) people.push_back(person(i + 1, repeat("x", 200)));
  auto r = check_budget(campaign_with("Hi {{first_name}}"), engine_with(), from(people), {});
  REQUIRE(r.findings.size() == 1);
  CHECK(r.findings[0].recipients == 23);
  CHECK(joined_issues(r).find("and 3 more") != std::string::npos);
}

TEST_CASE("the worst case renders the defaults and overflows when a default is too long") {
  auto campaign = campaign_with("Hi {{first_name|" + repeat("d", 160) + "}}");
  auto r = check_budget(campaign, engine_with(), from({person(1, "Ann")}), {});
  REQUIRE(r.findings.size() == 1);
  CHECK(r.findings[0].worst_case);
  CHECK(r.findings[0].recipients == 0);
  CHECK(r.findings[0].examples.at(0).phone == "(no attributes)");
  CHECK(joined_issues(r).find("the worst case") != std::string::npos);
  CHECK(r.audience_checked);
}

TEST_CASE("an MMS over mms_max_bytes with a local file reports the total") {
  auto dir =
      std::filesystem::temp_directory_path() / ("pigeon-budget-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream((dir / "pic.jpg").string()) << "\xFF\xD8\xFF" << std::string(997, 'j');
  auto campaign = campaign_with("Hello {{first_name}}", "mms");
  campaign.path = (dir / "promo.yaml").string();
  campaign.steps[0].variants[0].subject = "Sale";
  campaign.steps[0].variants[0].media = {"pic.jpg"};
  auto engine = [&](long mms_max) {
    auto e = engine_with("", "", 1, mms_max);
    e.media_dir = dir.string();
    e.public_url = "https://sms.example.com";
    return e;
  };
  auto ok = check_budget(campaign, engine(2000), from({person(1, "Ann")}), {});
  CHECK(ok.ok());
  CHECK(ok.variants.at(0).media_bytes == 1000);
  CHECK(ok.variants.at(0).max_bytes == 4 + 9 + 1000);
  auto r = check_budget(campaign, engine(1010), from({person(1, "Ann")}), {});
  REQUIRE(r.findings.size() == 1);
  CHECK(r.findings[0].problem == budget_problem::mms_overflow);
  CHECK(r.findings[0].examples.back().bytes == 1013);
  CHECK(joined_issues(r).find("1013 bytes") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("a media type carriers do not accept and a missing file are reported at the entry") {
  auto dir =
      std::filesystem::temp_directory_path() / ("pigeon-budget-type-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream((dir / "doc.pdf").string()) << "pdf";
  auto campaign = campaign_with("Hello", "mms");
  campaign.path = (dir / "promo.yaml").string();
  campaign.source_text = "campaign: promo\nsteps:\n  - mms:\n      media: [doc.pdf, gone.png]\n";
  campaign.steps[0].variants[0].media = {"doc.pdf", "gone.png"};
  media_probe never = [](const std::string&) -> media_info { throw std::logic_error("called"); };
  auto engine = engine_with();
  engine.media_dir = dir.string();
  engine.public_url = "https://sms.example.com";
  auto r = check_budget(campaign, engine, from({}), never);
  REQUIRE(r.findings.size() == 1);
  CHECK(r.findings[0].problem == budget_problem::bad_media);
  CHECK(r.findings[0].where.line == 4);
  CHECK(r.findings[0].where.column == 15);
  CHECK(r.findings[0].detail.find("media `doc.pdf`: ") != std::string::npos);
  CHECK(r.findings[0].detail.find("not a media type carriers accept") != std::string::npos);
  CHECK(r.findings[0].detail.find("media `gone.png`: ") != std::string::npos);
  CHECK(media_type_allowed("image/JPEG; charset=binary"));
  CHECK_FALSE(media_type_allowed("image/webp"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("URL media are sized through the injected probe") {
  auto campaign = campaign_with("Hello", "mms");
  campaign.steps[0].variants[0].media = {"https://cdn.example/a.png", "https://cdn.example/b"};
  int calls = 0;
  media_probe probe = [&](const std::string& url) {
    ++calls;
    if (url.ends_with("/b")) return media_info{false, -1, "", "unreachable: timeout"};
    return media_info{true, 600000, "image/png", ""};
  };
  auto r = check_budget(campaign, engine_with(), from({person(1, "")}), probe);
  CHECK(calls == 2);
  REQUIRE(r.findings.size() == 2);
  CHECK(r.findings[0].problem == budget_problem::mms_overflow);
  CHECK(r.findings[1].problem == budget_problem::bad_media);
  CHECK(r.findings[1].detail.find("timeout") != std::string::npos);
}

TEST_CASE("apply refuses an overflowing campaign and stores nothing") {
  auto dir = std::filesystem::temp_directory_path() /
             ("pigeon-budget-apply-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    auto db = sqlite_store::open((dir / "t.db").string());
    db->upsert_contacts({person(1, "Ann"), person(2, repeat("张", 70))});
    auto campaign = campaign_with("Hi {{first_name}}");
    try {
      apply_campaign(campaign, engine_with(), *db, time_point{});
      FAIL("apply did not throw");
    } catch (const config::config_error& e) {
      REQUIRE(e.issues().size() == 1);
      CHECK(e.issues()[0].message.find("+86*********02") != std::string::npos);
      CHECK(e.issues()[0].message.find("+86*********01") == std::string::npos);
    }
    CHECK(db->list_campaigns().empty());
  }
  std::filesystem::remove_all(dir);
}
