#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/model/model.hpp"
#include "engine/store/transactions.hpp"
namespace pigeon::engine {

// Campaigns as `campaign apply`, pause/resume/cancel and `campaign plan` consume them: versioned
// definitions, their lifecycle state, and the reads apply's pre-checks need (opt-outs, the sends
// that count against caps).
//
// Contract for every backend: tests/store/conformance/campaign_test.cpp pins it.
//
// Threading and failure: as transactional_store (engine/store/transactions.hpp).
class campaign_store : public virtual transactional_store {
 public:
  // Stores a campaign. If the newest stored version has the same content_hash, nothing changes
  // and that version is returned; otherwise a new version (previous + 1) becomes current.
  virtual int save_campaign(const stored_campaign& campaign) = 0;
  // The current version of every campaign (templates omitted), by name.
  virtual std::vector<stored_campaign> list_campaigns() = 0;
  // The current version with templates, stop_on and replies.valid_for (not the keywords), or
  // nullopt.
  virtual std::optional<stored_campaign> find_campaign(const std::string& name) = 0;
  // active | paused | cancelled. Cancel also suppresses every unfinished message of the
  // campaign (reason "campaign cancelled"). Returns false when there is no such campaign.
  virtual bool set_campaign_state(const std::string& name, const std::string& state,
                                  time_point now) = 0;
  // Re-apply of a version without some steps: every message of `campaign` still waiting
  // (scheduled, deferred, retry, leased; direct replies aside) whose step is not in `steps`
  // becomes suppressed with `reason`. Returns how many.
  virtual std::size_t suppress_removed_steps(const std::string& campaign,
                                             const std::vector<std::string>& steps,
                                             const std::string& reason, time_point now) = 0;
  // Apply of a cancelled campaign starts it anew: the state becomes active and the messages the
  // cancel suppressed before any attempt are removed, so the apply queues them again (a message
  // ever attempted stays as it is: nothing is sent twice). Returns how many were removed; 0 and
  // nothing changes when the campaign is not cancelled.
  virtual std::size_t restart_cancelled(const std::string& campaign, time_point now) = 0;
  // Ids of the contacts opted out now (apply enqueues nothing for them).
  virtual std::vector<std::int64_t> opted_out_contacts() = 0;
  // Marks freshly enqueued, never attempted messages of `campaign` as deferred (see
  // apply_deferral). Returns how many changed.
  virtual std::size_t defer_at_apply(const std::string& campaign,
                                     const std::vector<apply_deferral>& deferrals) = 0;
  // Calls `fn(contact_id, campaign, at)` for each marketing message with an attempt at or after
  // `since` that counts against frequency caps (see engine/store/sqlite/policy_facts.cpp), once per
  // message (its latest attempt). Read-only: `campaign plan` simulates caps with it.
  virtual void for_each_capped_send(
      time_point since,
      const std::function<void(std::int64_t, const std::string&, time_point)>& fn) = 0;
};

}  // namespace pigeon::engine
