#include "engine/store/sqlite/rows.hpp"

namespace pigeon::engine::sqlite {

std::string ids_in_state_sql(std::string_view state) {
  return "SELECT m.id FROM campaign_heads h CROSS JOIN messages m ON m.campaign = h.name AND "
         "m.state = '" +
         std::string(state) + "'";
}

}  // namespace pigeon::engine::sqlite
