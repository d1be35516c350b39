// pigeon contacts import FILE.csv, and the registration of every `contacts` verb (the others
// are in contacts_view_cmd.cpp, contacts_export_cmd.cpp and contacts_erase_cmd.cpp).
#include <unistd.h>

#include <boost/json.hpp>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>

#include "engine/campaign/journeys.hpp"
#include "engine/cli/commands.hpp"
#include "engine/cli/contacts_verbs.hpp"
#include "engine/cli/progress.hpp"
#include "engine/contacts/contacts_csv.hpp"

namespace pigeon::engine::cli {

namespace {

int import_contacts(const context& ctx, const std::string& file, const std::string& encoding,
                    const std::string& clock) {
  auto cfg = ctx.engine_config(false);
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::cerr << "pigeon: cannot read " << file << "\n";
    return 2;
  }
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (!encoding.empty()) {
    std::string error;
    auto converted = contacts::to_utf8(text, encoding, error);
    if (!converted) {
      std::cerr << file << ": " << error << "\n";
      return 1;
    }
    text = std::move(*converted);
  }
  std::optional<progress_bar> reading(std::in_place, "read", 0, !ctx.json);
  auto parsed = contacts::read_contacts_csv(
      std::string_view(text), cfg.default_region,
      [&](std::size_t n) { reading->update(static_cast<std::int64_t>(n)); });
  reading.reset();
  if (!parsed.fatal.empty()) {
    std::cerr << file << ": " << parsed.fatal << "\n";
    return 1;
  }
  auto db = ctx.open_store(cfg, context::store_open::create);
  // One transaction per chunk keeps memory flat and makes every stored chunk durable.
  std::size_t stored = 0, entered = 0;
  constexpr std::size_t chunk = 5000;
  campaign::journey_engine journeys(cfg);
  auto clk = make_clock(clock);
  progress_bar storing("stored", static_cast<std::int64_t>(parsed.contacts.size()), !ctx.json);
  for (std::size_t i = 0; i < parsed.contacts.size(); i += chunk) {
    auto end = std::min(parsed.contacts.size(), i + chunk);
    std::vector<engine::contact> part(parsed.contacts.begin() + static_cast<long>(i),
                                      parsed.contacts.begin() + static_cast<long>(end));
    db->transaction([&] {
      auto ids = db->upsert_contacts(part);
      stored += ids.size();
      // Lifecycle journeys see the new and changed contacts at once (a birthday today).
      auto r = journeys.contacts_changed(*db, ids, clk->now());
      entered += r.entered;
    });
    storing.update(static_cast<std::int64_t>(stored));
  }
  storing.finish();
  if (entered > 0 && !ctx.json) std::cout << "entered " << entered << " journey occurrences\n";
  if (ctx.json) {
    boost::json::array rejected;
    for (const auto& r : parsed.rejected) {
      boost::json::object o{{"line", r.line}, {"reason", r.reason}};
      if (r.byte) o["byte"] = *r.byte;
      rejected.push_back(std::move(o));
    }
    std::cout << boost::json::serialize(boost::json::object{{"file", file},
                                                            {"rows", parsed.rows},
                                                            {"imported", stored},
                                                            {"journeys_entered", entered},
                                                            {"rejected", std::move(rejected)}})
              << "\n";
  } else {
    for (const auto& r : parsed.rejected)
      std::cerr << file << ":" << r.line << ": rejected: " << r.reason << "\n";
    std::cout << "imported " << stored << " contacts from " << file << " (" << parsed.rows
              << " rows, " << parsed.rejected.size() << " rejected)\n";
  }
  return parsed.rejected.empty() ? 0 : 1;
}

}  // namespace

void register_contacts(CLI::App& app, context& ctx, int& exit_code) {
  auto* contacts = app.add_subcommand("contacts", "manage contacts");
  contacts->require_subcommand(1);
  auto* import = contacts->add_subcommand(
      "import", "upsert contacts from a CSV (exit 1 when rows were rejected; good rows are kept)");
  static std::string file, encoding, clock;
  import->add_option("file", file, "CSV with a phone column")->required();
  import->add_option("--encoding", encoding,
                     "the file's encoding when it is not UTF-8, an iconv name (GB18030, GBK, BIG5, "
                     "SHIFT_JIS, ISO-8859-1, UTF-16, ...)");
  import->add_flag("--json", ctx.json, "JSON output (docs/CLI_JSON.md)");
  import->add_option("--clock", clock,
                     "sim:T evaluates lifecycle journeys as of T (a rehearsal's simulated time)");
  import->callback([&] { exit_code = import_contacts(ctx, file, encoding, clock);
});

auto* list = contacts->add_subcommand("list", "contacts, filtered by tag and segment expression");
static contact_list_options list_options;
list->add_option("--tag", list_options.tag, "only contacts with this tag");
list->add_option("--where", list_options.where,
                 "only contacts matching this segment expression (as a campaign's `where`)");
auto* list_json = list->add_flag("--json", ctx.json, "JSON output (docs/CLI_JSON.md)");
list->add_flag("--csv", list_options.csv, "CSV on stdout, as `contacts export` writes it")
    ->excludes(list_json);
list->callback([&] { exit_code = list_contacts(ctx, list_options); });

static std::string phone;
auto* show = contacts->add_subcommand(
    "show", "one contact: attributes, tags, zone, opt-out, their messages and replies");
show->add_option("phone", phone, "the phone, in any format (national ones: default_region)")
    ->required();
show->add_flag("--json", ctx.json, "JSON output (docs/CLI_JSON.md)");
show->callback([&] { exit_code = show_contact(ctx, phone); });

auto* exp = contacts->add_subcommand(
    "export", "every contact to a CSV that `contacts import` reads back unchanged");
static std::string export_file;
exp->add_option("file", export_file, "the CSV to write (replaced whole, never half-written)")
    ->required();
exp->add_flag("--json", ctx.json, "JSON output (docs/CLI_JSON.md)");
exp->callback([&] { exit_code = export_contacts(ctx, export_file); });

auto* out = contacts->add_subcommand("opt-out",
                                     "opt a contact out, as their STOP would (source \"manual\")");
out->add_option("phone", phone, "the phone, in any format")->required();
out->add_flag("--json", ctx.json, "JSON output (docs/CLI_JSON.md)");
out->callback([&] { exit_code = opt_out_contact(ctx, phone); });

auto* del = contacts->add_subcommand(
    "delete", "erase a person (privacy request): contact, replies, events; messages lose text");
static bool yes = false;
del->add_option("phone", phone, "the phone, in any format")->required();
del->add_flag("--yes", yes, "do not ask (it asks when stdin is a terminal)");
del->add_flag("--json", ctx.json, "JSON output (docs/CLI_JSON.md)");
del->callback([&] { exit_code = delete_contact(ctx, phone, yes); });
}  // namespace pigeon::engine::cli

}  // namespace pigeon::engine::cli
