#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/model/model.hpp"
#include "engine/store/transactions.hpp"
namespace pigeon::engine {

// Lifecycle journeys (`trigger:`) as engine/campaign/journeys.cpp consumes them: exactly-once
// entries, the per-contact date index, membership of `enters` journeys, exits and the evaluation
// clock.
//
// Contract for every backend: tests/store/conformance/journey_test.cpp pins it.
//
// Threading and failure: as transactional_store (engine/store/transactions.hpp).
class journey_store : public virtual transactional_store {
 public:
  // Records that each entry's contact entered `campaign` at its occurrence (its anchor) at `at`
  // and enqueues the entry's messages, all in one transaction. Returns, entry by entry, whether
  // it was entered: false, storing nothing for it, when that occurrence was entered before (or
  // earlier in `entries`): one occurrence per (campaign, recipient, anchor), whatever
  // re-evaluates it, also when two nodes enter it at once. A rollover enters its contacts in
  // batches through this: one transaction each, not one per contact.
  virtual std::vector<bool> enter_journeys(const std::string& campaign,
                                           const std::vector<journey_entry>& entries,
                                           time_point at) = 0;
  // One entry (enter_journeys of one).
  bool enter_journey(const std::string& campaign, std::int64_t contact_id,
                     const std::string& occurrence, time_point at,
                     const std::vector<new_message>& messages) {
    return enter_journeys(campaign, {{contact_id, occurrence, messages}}, at).front();
  }
  // When the contact last entered `campaign`, or nullopt.
  virtual std::optional<time_point> last_journey_entry(const std::string& campaign,
                                                       std::int64_t contact_id) = 0;
  // `enters` journeys: the ids of the contacts that matched at their last evaluation (sorted),
  // and updates of that flag.
  virtual std::vector<std::int64_t> journey_matching(const std::string& campaign) = 0;
  virtual void set_journey_matching(const std::string& campaign,
                                    const std::vector<std::pair<std::int64_t, bool>>& flags) = 0;
  // A recipient the journey passed over (re-entry blocked, an unreadable date): counted and
  // shown by `campaign show`. A (campaign, contact, reason) already recorded is not repeated.
  virtual void record_journey_exit(const std::string& campaign, std::int64_t contact_id,
                                   const std::string& reason, time_point at) = 0;
  // Sets the rows of these contacts (replacing theirs) and removes the rows of `removed`.
  virtual void set_journey_dates(const std::string& campaign, const std::vector<journey_date>& rows,
                                 const std::vector<std::int64_t>& removed) = 0;
  // The zones of the journey's indexed contacts.
  virtual std::vector<std::string> journey_zones(const std::string& campaign) = 0;
  // Calls `fn` for each contact the query selects (see journey_query), in no particular order;
  // the contact is valid during the call only.
  virtual void for_each_journey_contact(const journey_query& query,
                                        const std::function<void(const contact&)>& fn) = 0;
  // How far the journey's time-driven evaluation got (nullopt: never ran), and its update, which
  // never moves it backwards (two nodes evaluating at once leave the later instant).
  virtual std::optional<time_point> journey_clock(const std::string& campaign) = 0;
  virtual void set_journey_clock(const std::string& campaign, time_point through) = 0;
  virtual journey_stats journey_statistics(const std::string& campaign, time_point now) = 0;
};

}  // namespace pigeon::engine
