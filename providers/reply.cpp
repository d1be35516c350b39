#include "providers/reply.hpp"

#include <array>
#include <charconv>

namespace pigeon::providers {

namespace {

std::string_view trim(std::string_view s) {
  constexpr std::string_view space = " \t\r\n";
  auto first = s.find_first_not_of(space);
  if (first == std::string_view::npos) return {};
  auto last = s.find_last_not_of(space);
  return s.substr(first, last - first + 1);
}

bool read_int(std::string_view text, int& out) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size();
}

}  // namespace

std::optional<std::chrono::sys_seconds> parse_http_date(std::string_view text) {
  // "Sun, 06 Nov 1994 08:49:37 GMT": fixed width, 29 characters. The obsolete RFC 850 and
  // asctime forms are not produced by any carrier we know of; they read as malformed.
  text = trim(text);
  if (text.size() != 29 || text[3] != ',' || text[4] != ' ' || text[7] != ' ' || text[11] != ' ' ||
      text[16] != ' ' || text[19] != ':' || text[22] != ':' || text.substr(25) != " GMT")
    return std::nullopt;
  static constexpr std::array<std::string_view, 12> months = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  unsigned month = 0;
  for (unsigned i = 0; i < months.size(); ++i)
    if (text.substr(8, 3) == months[i]) month = i + 1;
  int day = 0, year = 0, hh = 0, mm = 0, ss = 0;
  if (month == 0 || !read_int(text.substr(5, 2), day) || !read_int(text.substr(12, 4), year) ||
      !read_int(text.substr(17, 2), hh) || !read_int(text.substr(20, 2), mm) ||
      !read_int(text.substr(23, 2), ss))
    return std::nullopt;
  using namespace std::chrono;
  year_month_day date{std::chrono::year(year), std::chrono::month(month),
                      std::chrono::day(static_cast<unsigned>(day))};
  if (!date.ok() || hh > 23 || mm > 59 || ss > 60) return std::nullopt;
  return sys_days(date) + hours(hh) + minutes(mm) + seconds(ss);
}

std::chrono::milliseconds retry_after(const engine::http_response& response) {
  using std::chrono::milliseconds;
  auto value = trim(response.header("Retry-After"));
  if (value.empty()) return milliseconds(0);
  if (value.find_first_not_of("0123456789") == std::string_view::npos) {
    long long seconds = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    // More than a year is not a throttle, it is a broken header: let the backoff decide.
    if (ec != std::errc{} || seconds > 366LL * 24 * 3600) return milliseconds(0);
    return std::chrono::seconds(seconds);
  }
  auto until = parse_http_date(value);
  auto now = parse_http_date(response.header("Date"));
  if (!until || !now || *until <= *now) return milliseconds(0);
  return *until - *now;
}

std::string short_reason(std::string_view body, std::size_t limit) {
  body = trim(body);
  if (body.size() <= limit) return std::string(body);
  std::size_t cut = limit;
  // Step back over UTF-8 continuation bytes (10xxxxxx) so a character is never split.
  while (cut > 0 && (static_cast<unsigned char>(body[cut]) & 0xC0) == 0x80) --cut;
  return std::string(trim(body.substr(0, cut))) + "...";
}

bool is_transient_status(int status) {
  return status == 408 || status == 425 || status == 429 || (status >= 500 && status <= 599);
}

}  // namespace pigeon::providers
