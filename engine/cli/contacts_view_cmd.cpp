// pigeon contacts list / show: reading contacts (never creates a database).
#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>

#include "engine/campaign/audience.hpp"
#include "engine/cli/contacts_verbs.hpp"
#include "engine/cli/rows_json.hpp"
#include "engine/contacts/contacts_csv.hpp"
#include "engine/model/phone.hpp"

namespace pigeon::engine::cli {

namespace {

engine::time_point wall_now() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

std::string tags_text(const std::vector<std::string>& tags) {
  std::string out;
  for (const auto& t : tags) out += (out.empty() ? "" : ";") + t;
  return out;
}

// An attribute for people: numbers and booleans as the CSV has them; text as it is, or quoted
// JSON when it could be mistaken (looks like a number, spaces, line breaks, empty).
std::string value_text(const boost::json::value& v) {
  if (!v.is_string()) return contacts::csv_value_text(v);
  std::string_view s = v.get_string();
  if (contacts::csv_text_needs_mark(s) || s.find_first_of(" \t\r\n\"=") != std::string_view::npos)
    return boost::json::serialize(v);
  return std::string(s);
}

// The expression's attribute names no contact has (a typo, most likely): warned, not refused,
// as `where` filters on what is there.
void warn_unknown_names(const campaign::audience_expr& expr,
                        const std::vector<std::string>& names) {
  auto known = [&](const std::string& n) {
    return std::binary_search(names.begin(), names.end(), n);
  };
  for (const auto& use : expr.names()) {
    bool days = use.name.ends_with("_days");
    auto base = days ? use.name.substr(0, use.name.size() - 5) : use.name;
    if (known(use.name) || (days && known(base + "_at"))) continue;
    std::cerr << "pigeon: --where:" << use.column << ": no contact has an attribute `" << use.name
              << "`" << (use.tier.empty() ? "" : " (read by tier " + use.tier + ")") << "\n";
  }
}

}  // namespace

std::optional<std::string> phone_argument(const std::string& text,
                                          const std::string& default_region) {
  auto n = engine::normalize_phone(text, default_region);
  if (!n.error.empty()) {
    std::cerr << "pigeon: phone `" << text << "`: " << n.error
              << (default_region.empty() ? " (write it with its +country code, or set "
                                           "default_region in the engine config)"
                                         : "")
              << "\n";
    return std::nullopt;
  }
  return n.e164;
}

int list_contacts(const context& ctx, const contact_list_options& o) {
  auto cfg = ctx.engine_config(false, config::secrets::leave_unset);
  std::optional<campaign::audience_expr> where;
  if (!o.where.empty()) {
    // The engine's tiers, as a campaign's `where` has them (a tier that does not compile is
    // left out here: the config's own check names it; a reference to it is then an error).
    campaign::audience_expr::tier_map tiers;
    for (const auto& [name, text] : cfg.policy.tiers) {
      try {
        tiers.emplace(name, campaign::audience_expr::compile(text));
      } catch (const campaign::audience_expr_error&) {
      }
    }
    try {
      where = campaign::audience_expr::compile(o.where, &tiers);
    } catch (const campaign::audience_expr_error& e) {
      std::cerr << "pigeon: --where:" << e.column() << ": " << e.what() << "\n  " << o.where
                << "\n  " << std::string(static_cast<std::size_t>(e.column() - 1), ' ') << "^\n";
      return 2;
    }
  }
  auto db = ctx.open_reader(cfg);
  // One read transaction: the CSV header's names and the rows come from the same snapshot.
  db->transaction([&] {
    auto summary = db->summarize_contacts();
    if (where) warn_unknown_names(*where, summary.attributes);
    auto now = wall_now();
    boost::json::array json;
    std::string csv = o.csv ? contacts::contacts_csv_header(summary.attributes) : "";
    if (!o.csv && !ctx.json)
      std::printf("%-16s %-24s %-24s %s\n", "PHONE", "TZ", "TAGS", "ATTRIBUTES");
    std::size_t shown = 0;
    db->for_each_contact([&](const engine::contact& c) {
      if (!o.tag.empty() && std::find(c.tags.begin(), c.tags.end(), o.tag) == c.tags.end()) return;
      if (where && !where->matches(c, now)) return;
      ++shown;
      if (o.csv) {
        contacts::append_contact_csv_row(csv, c, summary.attributes);
        if (csv.size() > (1 << 20)) std::cout << csv, csv.clear();
      } else if (ctx.json) {
        boost::json::array tags(c.tags.begin(), c.tags.end());
        json.push_back(boost::json::object{{"phone", c.phone},
                                           {"tags", std::move(tags)},
                                           {"tz", c.tz},
                                           {"attributes", c.attributes}});
      } else {
        std::string attrs;
        for (const auto& [k, v] : c.attributes)
          attrs += (attrs.empty() ? "" : " ") + std::string(k) + "=" + value_text(v);
        std::printf("%-16s %-24s %-24s %s\n", c.phone.c_str(), c.tz.empty() ? "-" : c.tz.c_str(),
                    c.tags.empty() ? "-" : tags_text(c.tags).c_str(), attrs.c_str());
      }
    });
    if (o.csv) std::cout << csv;
    if (ctx.json) std::cout << boost::json::serialize(json) << "\n";
    if (!o.csv && !ctx.json) std::printf("%zu contacts\n", shown);
  });
  return 0;
}

int show_contact(const context& ctx, const std::string& text) {
  auto cfg = ctx.engine_config(false, config::secrets::leave_unset);
  auto phone = phone_argument(text, cfg.default_region);
  if (!phone) return 2;
  auto db = ctx.open_reader(cfg);
  auto c = db->find_contact(*phone);
  if (!c) {
    std::cerr << "pigeon: no contact has phone " << *phone
              << " (`pigeon contacts list` lists them)\n";
    return 2;
  }
  // recipient_timezone's order, with where the zone came from.
  std::string zone = c->tz, zone_source = "contact";
  if (zone.empty()) zone = engine::phone_timezone(c->phone), zone_source = "phone";
  if (zone.empty()) zone = cfg.default_timezone, zone_source = "default_timezone";
  auto opt_out = db->opt_out_state(c->id);
  auto preference = db->preference(c->id);
  engine::message_filter mf;
  mf.phone = c->phone;
  auto messages = db->messages(mf);
  engine::reply_filter rf;
  rf.contact_id = c->id;
  auto replies = db->replies(rf);
  if (ctx.json) {
    boost::json::object out{{"phone", c->phone},
                            {"tags", boost::json::array(c->tags.begin(), c->tags.end())},
                            {"tz", c->tz},
                            {"zone", {{"name", zone}, {"source", zone_source}}},
                            {"attributes", c->attributes}};
    out["opted_out"] = opt_out ? boost::json::value{{"at", engine::format_iso(opt_out->at)},
                                                    {"source", opt_out->source}}
                               : boost::json::value(nullptr);
    out["preference"] = preference ? boost::json::value{{"max", preference->max},
                                                        {"per_seconds", preference->per.count()}}
                                   : boost::json::value(nullptr);
    boost::json::array ms, rs;
    for (const auto& m : messages) ms.push_back(message_json(m));
    for (const auto& r : replies) rs.push_back(reply_json(r));
    out["messages"] = std::move(ms);
    out["replies"] = std::move(rs);
    std::cout << boost::json::serialize(out) << "\n";
    return 0;
  }
  static const std::map<std::string, std::string> source_words = {
      {"contact", "the contact's tz"},
      {"phone", "from the phone number"},
      {"default_timezone", "the engine's default_timezone"}};
  std::printf("%s\n", c->phone.c_str());
  std::printf("  zone        %s (%s)\n", zone.c_str(), source_words.at(zone_source).c_str());
  std::printf("  tags        %s\n", c->tags.empty() ? "-" : tags_text(c->tags).c_str());
  std::printf(
      "  opt-out     %s\n",
      opt_out
          ? ("opted out " + engine::format_iso(opt_out->at) + " (" + opt_out->source + ")").c_str()
          : "subscribed");
  if (preference)
    std::printf("  frequency   at most %d per %llds (their reply)\n", preference->max,
                static_cast<long long>(preference->per.count()));
  std::printf("  attributes%s\n", c->attributes.empty() ? "  -" : "");
  for (const auto& [k, v] : c->attributes)
    std::printf("    %-20s %s\n", std::string(k).c_str(), value_text(v).c_str());
  std::printf("messages (%zu)\n", messages.size());
  for (const auto& m : messages) {
    std::printf("  %-8lld %-11s %s/%s%s%s  due %s%s%s\n", static_cast<long long>(m.id),
                std::string(engine::to_string(m.state)).c_str(), m.campaign.c_str(), m.step.c_str(),
                m.variant.empty() ? "" : "/", m.variant.c_str(), engine::format_iso(m.due).c_str(),
                m.sent_at ? ("  sent " + engine::format_iso(*m.sent_at)).c_str() : "",
                m.reason.empty() ? "" : ("  " + m.reason).c_str());
    if (!m.body.empty()) std::printf("           %s\n", m.body.c_str());
  }
  std::printf("replies (%zu)\n", replies.size());
  for (const auto& r : replies)
    std::printf("  %s  %-10s %-20s %s\n", engine::format_iso(r.at).c_str(),
                r.keyword.empty() ? "-" : r.keyword.c_str(),
                r.action.empty() ? "unmatched" : r.action.c_str(), r.text.c_str());
  return 0;
}

}  // namespace pigeon::engine::cli
