#pragma once

// A campaign's results (`pigeon report`, GET /reports/{campaign}): the funnel per step and
// variant with rates and 95% Wilson intervals, the A/B test, a timeline, delivery latency,
// carrier error codes, segments and cost. build_report assembles one campaign_report from a
// store; the renderers (text, JSON, CSV here; HTML in engine/report/html.cpp) only format it,
// so every output shows the same numbers.

#include <boost/json/object.hpp>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/engine_config.hpp"
#include "engine/campaign/ab_decision.hpp"
#include "engine/model/report_data.hpp"
#include "engine/store/store.hpp"

namespace pigeon::engine::report {

// count / base with its 95% Wilson score interval (0, 0, 0 when base is 0).
struct proportion {
  std::int64_t count = 0;
  std::int64_t base = 0;
  double rate = 0;
  double low = 0;
  double high = 0;
};
proportion wilson(std::int64_t count, std::int64_t base);

// One step × variant (or the whole campaign, step and variant empty). Rates of sent, failed,
// expired and suppressed are over queued; the others over sent.
struct funnel_row {
  std::string step;
  std::string variant;
  report_counts counts;
  proportion sent, delivered, undelivered, failed, expired, suppressed, replied, converted,
      opted_out;
  std::map<std::string, proportion> replied_by_keyword;
};

// One CSV row: a step × variant on one UTC day.
struct day_row {
  std::string day;
  std::string step;
  std::string variant;
  report_counts counts;
};

struct timeline_point {
  time_point at;  // bucket start (UTC)
  report_hour counts;
};

struct latency_summary {
  std::int64_t count = 0;  // delivered messages with both times
  std::int64_t p50_ms = 0, p90_ms = 0, p95_ms = 0, p99_ms = 0, max_ms = 0;
};

struct provider_cost {
  std::string provider;
  std::int64_t segments = 0;
  std::optional<double> price_per_segment;  // unset: no price in the config
  std::string currency;
  std::optional<double> cost;
};

struct ab_section {
  campaign::ab_comparison comparison;   // the live z-test on the metric
  std::vector<variant_stats> variants;  // as `campaign show` counts them
  std::vector<proportion> rates;        // parallel to variants: conversions / exposed
  std::optional<ab_decision> decision;  // the stored test (decided or not)
};

// Provider name -> price per segment and currency (config: providers.NAME.price_per_segment).
using price_list = std::map<std::string, std::pair<double, std::string>>;
price_list prices_from(const config::engine_config& cfg);

struct campaign_report {
  std::string campaign;
  int version = 0;
  std::string state;
  std::string category;
  time_point generated_at{};
  std::chrono::milliseconds window{0};        // replies.valid_for: replies/opt-outs/conversions
  std::vector<std::string> conversion_goals;  // "event:NAME" / "reply:K"
  std::vector<funnel_row> funnel;             // step order as in the campaign file
  funnel_row total;
  std::optional<ab_section> ab;
  std::string timeline_bucket;  // "hour" (span up to 3 days) or "day"
  std::vector<timeline_point> timeline;
  latency_summary latency;
  std::vector<report_error> carrier_errors;
  std::vector<provider_cost> cost;
  std::map<std::string, double> cost_total;  // currency -> amount
  std::vector<day_row> days;
  std::optional<journey_stats> journey;  // a lifecycle journey: entries and exits (per day)
};

// Builds the report of `campaign` as of `now`. nullopt when there is no such campaign. Throws
// store_error.
std::optional<campaign_report> build_report(store& db, const std::string& campaign,
                                            const price_list& prices, time_point now);

// The names of the campaigns there are (for "no campaign named X; there are: ...").
std::string campaign_names(campaign_store& db);

// Renderers: a person's summary, the JSON of `report --json` ("journey": entries and exits of a
// lifecycle journey, per day; null for other campaigns), and CSV with one row per step ×
// variant × day (header first).
std::string render_text(const campaign_report& r);
boost::json::object to_json(const campaign_report& r);
std::string render_csv(const campaign_report& r);
// "850 ms", "12.5 s", "3.2 min", "5.1 h", "4.0 d" (latencies for people).
std::string format_duration_ms(std::int64_t ms);

// engine/report/html.cpp: the report as one self-contained HTML page (inline CSS and SVG
// charts, no script, no external resource), and the index page of GET / (one line per
// campaign: headline rates, a link to its report).
std::string render_html(const campaign_report& r);
std::string render_index_html(const std::vector<campaign_report>& reports);
// The admin listener's pages as {HTTP status, HTML}: GET / (campaign nullopt) and
// GET /reports/{campaign} (404 naming the campaigns there are when there is no such one).
std::pair<int, std::string> report_page(store& db, const std::optional<std::string>& campaign,
                                        const price_list& prices, time_point now);

}  // namespace pigeon::engine::report
