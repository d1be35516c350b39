#include "engine/store/postgres/connection.hpp"
#include "engine/store/postgres/postgres_store.hpp"
#include "engine/store/postgres/rows.hpp"

namespace pigeon::engine {

using postgres::query;

bool postgres_store::enter_journey(const std::string& campaign, std::int64_t contact_id,
                                   const std::string& occurrence, time_point at,
                                   const std::vector<new_message>& messages) {
  throw store_error("PostgreSQL store: enter_journey is not built yet");
}

std::optional<time_point> postgres_store::last_journey_entry(const std::string& campaign,
                                                             std::int64_t contact_id) {
  throw store_error("PostgreSQL store: last_journey_entry is not built yet");
}

std::vector<std::int64_t> postgres_store::journey_matching(const std::string& campaign) {
  throw store_error("PostgreSQL store: journey_matching is not built yet");
}

void postgres_store::set_journey_matching(const std::string& campaign,
                                          const std::vector<std::pair<std::int64_t, bool>>& flags) {
  throw store_error("PostgreSQL store: set_journey_matching is not built yet");
}

void postgres_store::record_journey_exit(const std::string& campaign, std::int64_t contact_id,
                                         const std::string& reason, time_point at) {
  throw store_error("PostgreSQL store: record_journey_exit is not built yet");
}

void postgres_store::set_journey_dates(const std::string& campaign,
                                       const std::vector<journey_date>& rows,
                                       const std::vector<std::int64_t>& removed) {
  throw store_error("PostgreSQL store: set_journey_dates is not built yet");
}

std::vector<std::string> postgres_store::journey_zones(const std::string& campaign) {
  throw store_error("PostgreSQL store: journey_zones is not built yet");
}

void postgres_store::for_each_journey_contact(const journey_query& query,
                                              const std::function<void(const contact&)>& fn) {
  throw store_error("PostgreSQL store: for_each_journey_contact is not built yet");
}

std::optional<time_point> postgres_store::journey_clock(const std::string& campaign) {
  throw store_error("PostgreSQL store: journey_clock is not built yet");
}

void postgres_store::set_journey_clock(const std::string& campaign, time_point through) {
  throw store_error("PostgreSQL store: set_journey_clock is not built yet");
}

journey_stats postgres_store::journey_statistics(const std::string& campaign, time_point now) {
  throw store_error("PostgreSQL store: journey_statistics is not built yet");
}

std::vector<contact> postgres_store::contacts_by_id(const std::vector<std::int64_t>& ids) {
  throw store_error("PostgreSQL store: contacts_by_id is not built yet");
}

}  // namespace pigeon::engine
