#include "engine/policy/send_policy.hpp"

#include <date/date.h>

#include <algorithm>

namespace pigeon::engine::policy {

namespace {

struct scoped_rule {
  const cap_rule* rule;
  bool this_campaign_only;
};

// Engine rules, then the campaign's own cap, then the preference: the order reasons tie-break in.
std::vector<scoped_rule> rules_of(const send_facts& f) {
  std::vector<scoped_rule> rules;
  rules.reserve(f.engine_rules.size() + 2);
  for (const auto& r : f.engine_rules) rules.push_back({&r, false});
  if (f.campaign_cap) rules.push_back({&*f.campaign_cap, true});
  if (f.preference) rules.push_back({&*f.preference, false});
  return rules;
}

verdict make(decision what, std::string rule, time_point until = {}) {
  verdict v{what, std::move(rule), {}, until};
  v.reason = v.rule;
  return v;
}

}  // namespace

reach cap_reach(const send_facts& f) {
  reach r;
  if (f.direct || !f.marketing) return r;
  for (const auto& [rule, campaign_only] : rules_of(f)) {
    if (rule->per.count() <= 0 || rule->max <= 0) continue;
    r.sends = std::max(r.sends, rule->per);
    if (!campaign_only) r.waiting = std::max(r.waiting, rule->per);
  }
  return r;
}

verdict decide(const send_facts& f) {
  // Responses and confirmations are transactional: never stopped, never capped (DESIGN Replies).
  if (f.direct) return {};

  // stop_on: a reply or event after this campaign's first send to the recipient ends its later
  // steps. (opt_out is global suppression, handled with the opt-out list.)
  if (f.first_send && !f.stop_on.empty()) {
    for (const auto& s : f.stop_signals) {
      if (s.at >= *f.first_send &&
          std::find(f.stop_on.begin(), f.stop_on.end(), s.trigger) != f.stop_on.end())
        return make(decision::suppressed, "stop_on " + s.trigger);
    }
  }

  if (!f.marketing) return {};

  struct blocked {
    time_point next{};
    std::string rule;
  };
  std::optional<blocked> worst;
  std::vector<time_point> in_window;
  for (const auto& [rule, campaign_only] : rules_of(f)) {
    if (rule->per.count() <= 0) continue;
    std::string reason = "frequency cap: " + rule->label;
    if (rule->max <= 0) return make(decision::suppressed, std::move(reason));
    const time_point since = f.at - rule->per;
    in_window.clear();
    for (const auto& s : f.sends)
      if (s.at > since && (!campaign_only || s.this_campaign)) in_window.push_back(s.at);
    std::int64_t reserved = 0;
    std::optional<time_point> last_reserving;
    if (!campaign_only) {
      for (auto due : f.waiting_higher) {
        if (due >= f.at + rule->per) continue;
        ++reserved;
        last_reserving = std::max(last_reserving.value_or(due), due);
      }
    }
    const auto used = static_cast<std::int64_t>(in_window.size());
    if (used + reserved < rule->max) continue;
    blocked b;
    b.rule = std::move(reason);
    if (used >= rule->max) {
      // The slot frees when the (used - max + 1)-th oldest send leaves the window.
      auto nth = in_window.begin() + (used - rule->max);
      std::nth_element(in_window.begin(), nth, in_window.end());
      b.next = *nth + rule->per;
    } else {
      // Held for a higher-priority message: look again once it is due (then its send counts).
      b.rule += " (slot held for a higher-priority campaign)";
      b.next = std::max(f.at, last_reserving.value_or(f.at)) + std::chrono::minutes(1);
    }
    if (!worst || b.next > worst->next) worst = std::move(b);
  }
  if (!worst) return {};
  if (f.drop_on_cap) return make(decision::suppressed, std::move(worst->rule));
  if (f.expires && worst->next >= *f.expires) {
    // As format_iso (engine/model/model.hpp); this target links nothing of the engine's.
    verdict v = make(decision::expired, std::move(worst->rule), worst->next);
    v.reason +=
        "; a slot frees only after its validity (" + date::format("%FT%TZ", *f.expires) + ")";
    return v;
  }
  return make(decision::deferred, std::move(worst->rule), worst->next);
}

}  // namespace pigeon::engine::policy
