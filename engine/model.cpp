#include "engine/model.hpp"

#include <date/date.h>

#include <sstream>

namespace pigeon::engine {

std::string format_iso(time_point t) { return date::format("%FT%TZ", t); }

std::optional<time_point> parse_iso(std::string_view text) {
  std::string s(text);
  for (const char* fmt :
       {"%FT%T%Ez", "%FT%TZ", "%FT%T%z", "%F %T%Ez", "%FT%H:%M%Ez", "%FT%H:%MZ"}) {
    std::istringstream in(s);
    time_point t;
    in >> date::parse(fmt, t);
    if (!in.fail() && in.peek() == std::char_traits<char>::eof()) return t;
  }
  std::istringstream in(s);
  date::sys_days d;
  in >> date::parse("%F", d);
  if (!in.fail() && in.peek() == std::char_traits<char>::eof()) return time_point(d);
  return std::nullopt;
}

std::string_view to_string(message_state s) {
  switch (s) {
    case message_state::scheduled:
      return "scheduled";
    case message_state::leased:
      return "leased";
    case message_state::submitting:
      return "submitting";
    case message_state::submitted:
      return "submitted";
    case message_state::delivered:
      return "delivered";
    case message_state::undelivered:
      return "undelivered";
    case message_state::failed:
      return "failed";
    case message_state::deferred:
      return "deferred";
    case message_state::suppressed:
      return "suppressed";
    case message_state::expired:
      return "expired";
    case message_state::retry:
      return "retry";
  }
  return "unknown";
}

std::optional<message_state> parse_state(std::string_view text) {
  for (auto s : all_states)
    if (to_string(s) == text) return s;
  return std::nullopt;
}

bool is_final(message_state s) {
  switch (s) {
    case message_state::delivered:
    case message_state::undelivered:
    case message_state::failed:
    case message_state::suppressed:
    case message_state::expired:
      return true;
    default:
      return false;
  }
}

std::string_view to_string(receipt_effect e) {
  switch (e) {
    case receipt_effect::applied:
      return "applied";
    case receipt_effect::reconciled:
      return "reconciled";
    case receipt_effect::stale:
      return "stale";
    case receipt_effect::duplicate:
      return "duplicate";
    case receipt_effect::unknown_message:
      return "unknown message";
  }
  return "unknown";
}

}  // namespace pigeon::engine
