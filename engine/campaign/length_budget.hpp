#pragma once
// The length budget of a campaign, checked before anything is stored: every step and variant is
// rendered for every recipient in the audience (an A/B "then: winner" may later send any
// variant to anyone) and for a worst case with no attributes (defaults apply). SMS: the
// composed text (signature + text + opt-out hint, via compose_text) must fit the sender's
// sms_max_segments. MMS: subject + text + media bytes must fit mms_max_bytes and every media
// part must be of a type carriers accept. Nothing is ever truncated: problems are reported.
//
// Ownership: everything returned is a value. Threading: call from one thread; the media probe
// is called synchronously, once per distinct media entry. Failure: problems found are data in
// the report (budget_report::issues() turns them into config issues); exceptions only come from
// the contact source or the probe.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/campaign.hpp"
#include "config/engine_config.hpp"
#include "config/source_location.hpp"
#include "engine/dispatch/media_files.hpp"
#include "engine/model/model.hpp"
#include "templates/segments.hpp"

namespace pigeon::engine::campaign {

// What a media probe learns about one media entry.
struct media_info {
  bool ok = false;           // false: unreachable / unreadable; `error` says why
  long long bytes = -1;      // size in bytes; -1 when unknown
  std::string content_type;  // lower case, without parameters ("image/jpeg"); may be empty
  std::string error;
};

// Probes an http(s) media entry. Synchronous. (Local media: engine/dispatch/media_files.hpp.)
using media_probe = std::function<media_info(const std::string& url_or_path)>;

// Calls `fn` for every contact (the caller's whole contact list; the audience is filtered here).
using contact_source = std::function<void(const std::function<void(const contact&)>& fn)>;

// Whether carriers accept this content type in an MMS (parameters and case ignored).
bool media_type_allowed(std::string_view content_type);

// The number of examples kept per finding; the rest are counted ("and N more").
inline constexpr std::size_t max_budget_examples = 20;

// One recipient that does not fit (or the worst case, phone "(no attributes)").
struct budget_example {
  std::string phone;            // masked
  std::int64_t contact_id = 0;  // 0 for the worst case
  templates::encoding enc = templates::encoding::gsm7;
  int segments = 0;
  std::vector<int> units;  // per segment
  int total_units = 0;
  long long bytes = 0;  // MMS: subject + text + media
  // The values of the variables the template uses ("(missing)" when absent), in order.
  std::vector<std::pair<std::string, std::string>> values;
  std::vector<std::string> missing;  // variables missing with no default
};

enum class budget_problem { sms_overflow, mms_overflow, missing_attributes, bad_media };

struct budget_finding {
  std::string step;
  std::string variant;
  budget_problem problem = budget_problem::sms_overflow;
  config::source_location where;  // the variant text's location (bad_media: the entry's)
  std::string sender;
  long long limit = 0;         // sms_max_segments or mms_max_bytes
  std::size_t recipients = 0;  // audience recipients affected (the worst case not included)
  bool worst_case = false;     // the no-attributes worst case is affected too
  std::vector<budget_example> examples;  // at most max_budget_examples (worst case first)
  std::string detail;                    // bad_media: what is wrong with which entry
};

struct media_part {
  std::string entry;  // as written in the campaign
  media_info info;
};

// Per step/variant: what was checked and the largest message seen.
struct variant_budget {
  std::string step;
  std::string variant;
  std::string kind;  // sms | mms
  config::source_location where;
  std::size_t recipients = 0;  // audience recipients rendered
  int max_segments = 0;        // SMS: the most segments any render needed
  long long max_bytes = 0;     // MMS: the largest subject + text + media
  long long media_bytes = 0;   // MMS: the media parts' sizes (known ones)
  std::vector<media_part> media;
  bool fits = true;
};

struct budget_report {
  std::size_t audience = 0;       // recipients in the audience
  bool audience_checked = false;  // false: worst case only (no contacts were given)
  std::vector<variant_budget> variants;
  std::vector<budget_finding> findings;

  bool ok() const { return findings.empty(); }
  // One issue per (step, variant, problem) at the variant's location; readable multi-line
  // messages listing examples and "and N more".
  std::vector<config::config_issue> issues() const;
};

// Runs the check. `contacts` may be empty (worst case only). `url_probe` handles http(s) media;
// when empty, URL media is reported as not checkable. Local media are resolved from the
// campaign file's folder and must be inside the engine's media_dir (resolve_local_media), with
// a public_url to be fetched from. Templates must compile (validate_campaign first); a variant
// whose template does not compile is skipped.
budget_report check_budget(const config::campaign_config& campaign,
                           const config::engine_config& engine, const contact_source& contacts,
                           const media_probe& url_probe);

// The same check, fed one audience recipient at a time (apply checks and enqueues in one pass).
// Construct (probes media, checks the worst case), add() every recipient already known to be in
// the audience, then finish() once. Not copyable; one thread.
class budget_checker {
 public:
  budget_checker(const config::campaign_config& campaign, const config::engine_config& engine,
                 const media_probe& url_probe);
  ~budget_checker();
  budget_checker(const budget_checker&) = delete;
  budget_checker& operator=(const budget_checker&) = delete;
  void add(const contact& c);
  budget_report finish();

 private:
  struct state;
  std::unique_ptr<state> s_;
};

// One message rendered for one contact, as preview shows it.
struct rendered_sample {
  std::string text;     // composed: signature + text (+ opt-out hint for marketing SMS)
  std::string subject;  // MMS
  std::vector<std::string> missing;
  templates::segment_info info;  // of `text`
  long long text_bytes = 0;      // UTF-8 bytes of subject + text
};
rendered_sample render_sample(const config::campaign_config& campaign,
                              const config::engine_config& engine, const config::step_config& step,
                              const config::variant_config& variant, const contact& c);

// The worst-case stand-in: no tags, no attributes, a 16-character phone.
contact worst_case_contact();

}  // namespace pigeon::engine::campaign
