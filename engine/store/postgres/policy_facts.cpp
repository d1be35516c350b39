#include "engine/store/postgres/connection.hpp"
#include "engine/store/postgres/postgres_store.hpp"
#include "engine/store/postgres/rows.hpp"

namespace pigeon::engine {

using postgres::query;

std::optional<postgres_store::submit_context> postgres_store::read_submit_context(
    std::int64_t message_id) {
  throw store_error("PostgreSQL store: read_submit_context is not built yet");
}

std::optional<send_outcome> postgres_store::policy_verdict(const submit_intent& intent,
                                                           const submit_context& ctx) {
  throw store_error("PostgreSQL store: policy_verdict is not built yet");
}

void postgres_store::for_each_capped_send(
    time_point since, const std::function<void(std::int64_t, const std::string&, time_point)>& fn) {
  throw store_error("PostgreSQL store: for_each_capped_send is not built yet");
}

std::vector<std::int64_t> postgres_store::opted_out_contacts() {
  throw store_error("PostgreSQL store: opted_out_contacts is not built yet");
}

std::size_t postgres_store::defer_at_apply(const std::string& campaign,
                                           const std::vector<apply_deferral>& deferrals) {
  throw store_error("PostgreSQL store: defer_at_apply is not built yet");
}

}  // namespace pigeon::engine
