#include "engine/model/model.hpp"

#include <date/date.h>

#include <sstream>

namespace pigeon::engine {

std::string format_iso(time_point t) { return date::format("%FT%TZ", t); }

std::optional<time_point> parse_iso(std::string_view text) {
  // The format is chosen from the text's shape, so that date::parse never meets a %T where the
  // text has no HH:MM:SS: its %T reads the seconds into an uninitialised long double and rounds
  // it even when the read failed (date.h, from_stream), undefined behaviour UBSan caught on
  // plain dates ("2029-11-01" tried against "%FT%T%Ez").
  auto digits = [&](std::size_t at, std::size_t n) {
    if (at + n > text.size()) return false;
    for (std::size_t i = at; i < at + n; ++i)
      if (text[i] < '0' || text[i] > '9') return false;
    return true;
  };
  if (!digits(0, 4) || text.size() < 10 || text[4] != '-' || !digits(5, 2) || text[7] != '-' ||
      !digits(8, 2))
    return std::nullopt;
  std::string s(text);
  if (text.size() == 10) {
    std::istringstream in(s);
    date::sys_days d;
    in >> date::parse("%F", d);
    if (!in.fail() && in.peek() == std::char_traits<char>::eof()) return time_point(d);
    return std::nullopt;
  }
  if ((text[10] != 'T' && text[10] != ' ') || !digits(11, 2) || text.size() < 16 ||
      text[13] != ':' || !digits(14, 2))
    return std::nullopt;
  std::string fmt = "%F";
  fmt += text[10];
  std::size_t i = 16;
  if (i < text.size() && text[i] == ':') {
    if (!digits(17, 2)) return std::nullopt;
    fmt += "%T";
    i = 19;
    if (i < text.size() && text[i] == '.') {
      ++i;
      while (digits(i, 1)) ++i;
    }
  } else {
    fmt += "%H:%M";
  }
  std::string_view zone = text.substr(i);
  if (zone == "Z") {
    fmt += "Z";
  } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':' &&
             digits(i + 1, 2) && digits(i + 4, 2)) {
    fmt += "%Ez";
  } else if (zone.size() == 5 && (zone[0] == '+' || zone[0] == '-') && digits(i + 1, 4)) {
    fmt += "%z";
  } else {
    return std::nullopt;
  }
  std::istringstream in(s);
  time_point t;
  in >> date::parse(fmt.c_str(), t);
  if (!in.fail() && in.peek() == std::char_traits<char>::eof()) return t;
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
