#include "engine/store/postgres/connection.hpp"
#include "engine/store/postgres/postgres_store.hpp"
#include "engine/store/postgres/rows.hpp"

namespace pigeon::engine {

using postgres::query;

std::vector<variant_stats> postgres_store::ab_stats(const std::string& campaign) {
  throw store_error("PostgreSQL store: ab_stats is not built yet");
}

void postgres_store::register_ab_test(const ab_decision& test, std::optional<time_point> check_by) {
  throw store_error("PostgreSQL store: register_ab_test is not built yet");
}

std::vector<ab_decision> postgres_store::ab_tests_due(time_point now) {
  throw store_error("PostgreSQL store: ab_tests_due is not built yet");
}

std::int64_t postgres_store::record_ab_decision(const ab_decision& d) {
  throw store_error("PostgreSQL store: record_ab_decision is not built yet");
}

std::int64_t postgres_store::recheck_ab_test(const ab_decision& d, time_point now) {
  throw store_error("PostgreSQL store: recheck_ab_test is not built yet");
}

std::optional<ab_decision> postgres_store::find_ab_test(const std::string& campaign) {
  throw store_error("PostgreSQL store: find_ab_test is not built yet");
}

}  // namespace pigeon::engine
