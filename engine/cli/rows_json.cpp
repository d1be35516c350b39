#include "engine/cli/rows_json.hpp"

namespace pigeon::engine::cli {

boost::json::object message_json(const engine::message_row& r) {
  return {{"id", r.id},
          {"recipient", r.phone},
          {"campaign", r.campaign},
          {"step", r.step},
          {"variant", r.variant},
          {"state", std::string(engine::to_string(r.state))},
          {"due", engine::format_iso(r.due)},
          {"sent", r.sent_at ? boost::json::value(engine::format_iso(*r.sent_at)) : nullptr},
          {"provider", r.provider},
          {"carrier_id", r.carrier_id},
          {"attempts", r.attempts},
          {"reason", r.reason},
          {"text", r.body}};
}

boost::json::object reply_json(const engine::reply_row& r) {
  return {{"id", r.id},
          {"at", engine::format_iso(r.at)},
          {"phone", r.phone},
          {"to", r.to},
          {"provider", r.provider},
          {"campaign", r.campaign},
          {"keyword", r.keyword},
          {"action", r.action},
          {"nps_score", r.nps_score ? boost::json::value(*r.nps_score) : nullptr},
          {"text", r.text}};
}

}  // namespace pigeon::engine::cli
