#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/model/model.hpp"
#include "engine/model/ops_snapshot.hpp"
#include "engine/model/report_data.hpp"
#include "engine/store/transactions.hpp"
namespace pigeon::engine {

// What `status`, `messages`, `replies`, `report` and the admin pages read. Read-only: every
// method here may run on a reader connection beside the engine's writer.
//
// Contract for every backend: tests/store/conformance/report_test.cpp pins it.
//
// Threading and failure: as transactional_store (engine/store/transactions.hpp).
class report_store : public virtual transactional_store {
 public:
  virtual status_snapshot status(time_point now) = 0;
  virtual std::vector<message_row> messages(const message_filter& filter) = 0;
  virtual std::vector<reply_row> replies(const reply_filter& filter) = 0;
  // Throughput, providers, campaign progress and waiting reasons as of `now`.
  virtual ops_snapshot operations(time_point now) = 0;
  // The counts of `q.campaign`'s report (see report_facts): one pass over the campaign's
  // messages plus its replies, opt-outs, goal events and failure receipts. Read-only.
  virtual report_facts collect_report(const report_query& q) = 0;
};

}  // namespace pigeon::engine
