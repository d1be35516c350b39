#include "engine/store/postgres/connection.hpp"
#include "engine/store/postgres/postgres_store.hpp"
#include "engine/store/postgres/rows.hpp"

namespace pigeon::engine {

using postgres::query;

postgres_store::erase_result postgres_store::erase_contact(const std::string& phone,
                                                           time_point now) {
  throw store_error("PostgreSQL store: erase_contact is not built yet");
}

std::optional<postgres_store::opt_out_record> postgres_store::opt_out_state(
    std::int64_t contact_id) {
  throw store_error("PostgreSQL store: opt_out_state is not built yet");
}

}  // namespace pigeon::engine
