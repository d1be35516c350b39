#include "engine/store/postgres/connection.hpp"
#include "engine/store/postgres/postgres_store.hpp"
#include "engine/store/postgres/rows.hpp"

namespace pigeon::engine {

using postgres::query;

receipt_effect postgres_store::record_receipt(const receipt& r) {
  throw store_error("PostgreSQL store: record_receipt is not built yet");
}

std::int64_t postgres_store::ensure_contact(const std::string& phone, time_point now) {
  throw store_error("PostgreSQL store: ensure_contact is not built yet");
}

std::size_t postgres_store::opt_out(std::int64_t contact_id, const std::string& source,
                                    time_point now) {
  throw store_error("PostgreSQL store: opt_out is not built yet");
}

bool postgres_store::opt_in(std::int64_t contact_id, time_point now) {
  throw store_error("PostgreSQL store: opt_in is not built yet");
}

std::optional<time_point> postgres_store::opted_out_at(std::int64_t contact_id) {
  throw store_error("PostgreSQL store: opted_out_at is not built yet");
}

std::optional<reply_attribution> postgres_store::attribute_reply(std::int64_t contact_id,
                                                                 time_point now) {
  throw store_error("PostgreSQL store: attribute_reply is not built yet");
}

std::optional<std::pair<std::string, std::string>> postgres_store::last_sender(
    std::int64_t contact_id) {
  throw store_error("PostgreSQL store: last_sender is not built yet");
}

void postgres_store::add_tag(std::int64_t contact_id, const std::string& tag, time_point now) {
  throw store_error("PostgreSQL store: add_tag is not built yet");
}

void postgres_store::set_preference(std::int64_t contact_id, const contact_preference& p,
                                    const std::string& source, time_point now) {
  throw store_error("PostgreSQL store: set_preference is not built yet");
}

std::optional<contact_preference> postgres_store::preference(std::int64_t contact_id) {
  throw store_error("PostgreSQL store: preference is not built yet");
}

std::int64_t postgres_store::enqueue_direct(const std::string& campaign, std::int64_t contact_id,
                                            std::int64_t reply_id, const std::string& text,
                                            time_point due) {
  throw store_error("PostgreSQL store: enqueue_direct is not built yet");
}

std::int64_t postgres_store::record_reply(const reply_row& r) {
  throw store_error("PostgreSQL store: record_reply is not built yet");
}

void postgres_store::update_reply(const reply_row& r) {
  throw store_error("PostgreSQL store: update_reply is not built yet");
}

std::vector<reply_row> postgres_store::replies(const reply_filter& filter) {
  throw store_error("PostgreSQL store: replies is not built yet");
}

std::int64_t postgres_store::record_event(const contact_event& e) {
  throw store_error("PostgreSQL store: record_event is not built yet");
}

std::vector<contact_event> postgres_store::events(std::int64_t contact_id, const std::string& name,
                                                  time_point since) {
  throw store_error("PostgreSQL store: events is not built yet");
}

bool postgres_store::suppress_opted_out(std::int64_t message_id, time_point now) {
  throw store_error("PostgreSQL store: suppress_opted_out is not built yet");
}

void postgres_store::save_replies(const std::string& campaign, int version,
                                  const reply_config& replies) {
  throw store_error("PostgreSQL store: save_replies is not built yet");
}

}  // namespace pigeon::engine
