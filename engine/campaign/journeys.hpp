#pragma once
// Lifecycle journeys (DESIGN "Lifecycle journeys"): a campaign with `trigger:` instead of
// `anchor:` gives each recipient an anchor of their own, and each occurrence of it (a birthday,
// an entry into a condition, an event) sends the campaign's steps once.
//
// When a trigger fires:
//   date    (`{date: x_at, every: once|year|month}`) on the date, its anniversary or its monthly
//           day in the recipient's zone (29 Feb on 28 Feb of a common year; the 31st on a short
//           month's last day). A contact is entered `lead` days ahead (the earliest step's
//           negative offset) when their local date rolls over, or at once by apply/upsert when
//           that moment has already come and the anchor day has not passed.
//   enters  (`{enters: EXPR, reentry: D}`) when the contact starts matching EXPR (and the
//           audience): at apply, on upsert, and at each local-date rollover of their zone. Once
//           entered, again only after leaving and `reentry` (default: never) since the last entry.
//   event   (`{event: NAME, where: EXPR}`) on each matching event (POST /v1/events); `where`
//           reads the event's properties; `reentry`, when set, is the least time between entries.
//
// Each entry is stored with its occurrence (the anchor day, "enters:<day>" or "event:<id>") in
// the same transaction as its messages (store::enter_journeys): re-evaluation, restarts and
// re-imports never queue an occurrence twice, and a crash loses nothing that was committed.
// The rollover reads only the contacts whose trigger date falls on the day (journey_dates).
//
// Threading: a journey_engine is used by one thread at a time, the one that owns the store (the
// CLI's, or async_store's writer thread in `serve`). Failure: store_error propagates; a journey
// whose stored source no longer loads is skipped with a logged error.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/campaign.hpp"
#include "config/engine_config.hpp"
#include "engine/model/model.hpp"
#include "engine/store/store.hpp"

namespace pigeon::engine::campaign {

// Issues of a campaign's trigger that need the engine config: the `enters` and `where`
// expressions compile (file:line:col), the date attribute and the steps fit a journey.
std::vector<config::config_issue> trigger_issues(const config::campaign_config& campaign,
                                                 const config::engine_config& engine);

// What templates read for the length budget of a journey at apply/preview: `event.<key>` of
// each key the templates name, as a 10-character stand-in (an event's real values are known only
// when it arrives; a text that then overflows fails with its reason at send).
boost::json::object journey_budget_context(const config::campaign_config& campaign);

// A journey's statistics (store::journey_statistics) for `campaign show --json` and `status
// --json`, and as lines for a person (each ends with a newline).
boost::json::object journey_json(const journey_stats& stats);
std::string describe_journey(const journey_stats& stats, std::string_view indent = "");

struct journey_result {
  std::size_t indexed = 0;   // contacts placed in the rollover index
  std::size_t entered = 0;   // occurrences entered
  std::size_t messages = 0;  // messages queued by them
  std::size_t blocked = 0;   // re-entries refused by `reentry`
  std::size_t skipped = 0;   // contacts whose trigger date does not read
};

// `campaign plan` of a journey. A date trigger is forecast per day: the recipients (audience
// now, readable trigger date) whose anchor day falls on each local day. `enters` and event
// triggers depend on what happens: only the entry rate of the last 7 days is known (0 before
// the journey was applied).
struct journey_forecast {
  bool depends_on_events = false;
  double entries_per_day_7d = 0;
  std::map<std::string, std::int64_t> entries_by_day;  // anchor day (YYYY-MM-DD, local) -> n
  std::int64_t steps = 0;                              // messages per entry
  std::int64_t unreadable = 0;                         // contacts whose date does not read
};
journey_forecast forecast_journey(const config::campaign_config& campaign,
                                  const config::engine_config& engine, store& db, time_point from,
                                  int days);

class journey;

class journey_engine {
 public:
  explicit journey_engine(config::engine_config engine);
  ~journey_engine();
  journey_engine(const journey_engine&) = delete;
  journey_engine& operator=(const journey_engine&) = delete;

  // Re-reads the active journey campaigns from `db` when their versions changed.
  void refresh(store& db);
  bool empty() const { return journeys_.empty(); }

  // Apply of a journey campaign (its version stored by the caller, in the caller's
  // transaction): indexes every contact and enters the occurrences already open. Starts the
  // journey's clock at `now` (a re-apply keeps it).
  journey_result apply(store& db, const config::campaign_config& campaign, int version,
                       time_point now);
  // Contacts just upserted (contacts import, POST /v1/contacts): re-indexed and evaluated.
  journey_result contacts_changed(store& db, const std::vector<std::int64_t>& ids, time_point now);
  // An event just recorded: enters the journeys it triggers (as of the last refresh(); the
  // first call refreshes).
  journey_result event_recorded(store& db, const contact_event& event, time_point now);
  // Time-driven evaluation of every zone whose local date rolled over since each journey's
  // clock, in one transaction per journey. Returns when it next has work: the next local
  // midnight of a zone of some journey (nullopt without date or enters journeys).
  std::optional<time_point> tick(store& db, time_point now, journey_result* result = nullptr);

 private:
  config::engine_config engine_;
  std::map<std::string, std::shared_ptr<const journey>> journeys_;  // by campaign name
  std::map<std::string, int> versions_;
  bool refreshed_ = false;
};

}  // namespace pigeon::engine::campaign
