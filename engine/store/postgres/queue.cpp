#include "engine/store/postgres/connection.hpp"
#include "engine/store/postgres/postgres_store.hpp"
#include "engine/store/postgres/rows.hpp"

namespace pigeon::engine {

using postgres::query;

std::size_t postgres_store::enqueue(const std::vector<new_message>& messages) {
  throw store_error("PostgreSQL store: enqueue is not built yet");
}

std::vector<claimed_message> postgres_store::claim_due(time_point now, int limit,
                                                       time_point lease_until,
                                                       const std::string& owner) {
  throw store_error("PostgreSQL store: claim_due is not built yet");
}

std::vector<std::int64_t> postgres_store::mark_submitting(
    const std::vector<submit_intent>& intents) {
  throw store_error("PostgreSQL store: mark_submitting is not built yet");
}

void postgres_store::record_outcomes(const std::vector<send_outcome>& outcomes) {
  throw store_error("PostgreSQL store: record_outcomes is not built yet");
}

std::pair<std::size_t, std::size_t> postgres_store::recover_after_crash(
    time_point now, std::chrono::milliseconds reconcile_grace) {
  throw store_error("PostgreSQL store: recover_after_crash is not built yet");
}

std::optional<time_point> postgres_store::next_due() {
  throw store_error("PostgreSQL store: next_due is not built yet");
}

std::int64_t postgres_store::count_pending() {
  throw store_error("PostgreSQL store: count_pending is not built yet");
}

void postgres_store::heartbeat(const std::string& owner, time_point now) {
  throw store_error("PostgreSQL store: heartbeat is not built yet");
}

void postgres_store::engine_stopped(const std::string& owner, time_point now) {
  throw store_error("PostgreSQL store: engine_stopped is not built yet");
}

std::size_t postgres_store::release_leases(const std::string& owner) {
  throw store_error("PostgreSQL store: release_leases is not built yet");
}

void postgres_store::heartbeat_detail(const std::string& owner, const std::string& detail) {
  throw store_error("PostgreSQL store: heartbeat_detail is not built yet");
}

}  // namespace pigeon::engine
