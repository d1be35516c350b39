#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/model/model.hpp"
#include "engine/store/transactions.hpp"
namespace pigeon::engine {

// A/B tests as apply registers them and the dispatcher decides them
// (engine/campaign/ab_decision.cpp): registration, the tests due for a decision, the decision and
// its effect on waiting messages.
//
// Contract for every backend: tests/store/conformance/ab_test.cpp pins it.
//
// Threading and failure: as transactional_store (engine/store/transactions.hpp).
class ab_store : public virtual transactional_store {
 public:
  // Registers the campaign's ab_test (metric, decide_after, min_per_variant, sample percent);
  // while undecided a re-apply updates them, a decided test is kept as it is. An empty metric
  // removes an undecided test (a version without ab_test) and releases the messages it held
  // with their split. `check_by`, when set, brings the
  // test's next check forward to it (apply: when its held messages fall due).
  virtual void register_ab_test(const ab_decision& test, std::optional<time_point> check_by) = 0;
  // Undecided tests of active campaigns whose time has come: their next check is due, or (not
  // checked yet) first send of a step with variants + decide_after <= now. Cheap when there is
  // nothing to decide (the dispatcher calls it before every claim); records the first send of a
  // step with variants as soon as there is one.
  virtual std::vector<ab_decision> ab_tests_due(time_point now) = 0;
  // Records `d` (decided_at set) and, when d.winner is set, moves every message of the campaign
  // not yet attempted (scheduled or deferred, no attempt, not holdout) of a step that has that
  // variant to it; releases the messages held by `sample` (due now, valid until the end of the
  // day after, in whole days from their own validity); in one transaction. Returns how many
  // messages moved; 0 and nothing changes when the test was already decided.
  virtual std::int64_t record_ab_decision(const ab_decision& d) = 0;
  // An undecided check: stores d.reason and d.next_check. Held messages wait until next_check;
  // when no other message of a step with variants is still waiting to go (the sample is spent
  // and the test still cannot decide), they are released with their weighted split instead.
  // Returns how many were released.
  virtual std::int64_t recheck_ab_test(const ab_decision& d, time_point now) = 0;
  // The campaign's registered test (decided or not), or nullopt.
  virtual std::optional<ab_decision> find_ab_test(const std::string& campaign) = 0;
  // Per-variant A/B statistics of a campaign (see variant_stats), by variant name.
  virtual std::vector<variant_stats> ab_stats(const std::string& campaign) = 0;
};

}  // namespace pigeon::engine
