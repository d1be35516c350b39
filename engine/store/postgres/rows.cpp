#include "engine/store/postgres/rows.hpp"

#include <spdlog/spdlog.h>

#include "engine/model/phone.hpp"
#include "engine/store/transactions.hpp"

namespace pigeon::engine::postgres {

contact read_contact(const query& q, int first) {
  contact c;
  read_contact_into(q, first, c);
  return c;
}

void read_contact_into(const query& q, int first, contact& c) {
  c.id = q.get_int(first);
  c.phone.assign(q.get_view(first + 1));
  try {
    json_to_strings(q.get_view(first + 2), "tags", c.tags);
    c.attributes = json_to_object(q.get_view(first + 3), "attributes");
  } catch (const store_error& e) {
    throw store_error("contact " + mask_phone(c.phone) + " (id " + std::to_string(c.id) +
                      ") cannot be read: " + e.what() + "; import the contact again to repair it");
  }
  c.tz.assign(q.get_view(first + 4));
}

void for_each_contact_row(query& q, const std::function<void(const contact&)>& fn) {
  contact c;
  while (q.step()) {
    try {
      read_contact_into(q, 0, c);
    } catch (const store_error& e) {
      spdlog::warn("skipped {}", e.what());
      continue;
    }
    fn(c);
  }
}

}  // namespace pigeon::engine::postgres
