#include "engine/store/postgres/connection.hpp"
#include "engine/store/postgres/postgres_store.hpp"
#include "engine/store/postgres/rows.hpp"

namespace pigeon::engine {

using postgres::query;

status_snapshot postgres_store::status(time_point now) {
  throw store_error("PostgreSQL store: status is not built yet");
}

std::vector<message_row> postgres_store::messages(const message_filter& filter) {
  throw store_error("PostgreSQL store: messages is not built yet");
}

ops_snapshot postgres_store::operations(time_point now) {
  throw store_error("PostgreSQL store: operations is not built yet");
}

report_facts postgres_store::collect_report(const report_query& q) {
  throw store_error("PostgreSQL store: collect_report is not built yet");
}

postgres_store::contacts_summary postgres_store::summarize_contacts() {
  throw store_error("PostgreSQL store: summarize_contacts is not built yet");
}

}  // namespace pigeon::engine
