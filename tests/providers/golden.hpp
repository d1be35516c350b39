#pragma once

// Golden-file helpers for the codec tests: requests and verdicts are rendered as text and
// compared byte for byte with files under tests/providers/<codec>/fixtures/.
// PIGEON_UPDATE_GOLDEN=1 rewrites the expected files instead (review the diff before keeping).

#include <doctest/doctest.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <variant>

#include "config/engine_config.hpp"
#include "engine/model/carrier.hpp"

namespace pigeon::providers::test {

inline std::string fixture_path(const std::string& codec, const std::string& name) {
  return std::string(PIGEON_SOURCE_DIR) + "/tests/providers/" + codec + "/fixtures/" + name;
}

inline std::string read_fixture(const std::string& codec, const std::string& name) {
  std::ifstream in(fixture_path(codec, name), std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "missing fixture " << fixture_path(codec, name));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Compares `actual` with the fixture, or rewrites the fixture under PIGEON_UPDATE_GOLDEN=1.
inline void check_golden(const std::string& codec, const std::string& name,
                         const std::string& actual) {
  if (const char* update = std::getenv("PIGEON_UPDATE_GOLDEN"); update && *update == '1') {
    std::ofstream(fixture_path(codec, name), std::ios::binary) << actual;
    return;
  }
  CHECK_MESSAGE(read_fixture(codec, name) == actual, "fixture " << codec << "/" << name);
}

// "METHOD URL\nName: value\n...\n\nBODY\n". Bodies never hold a raw line break (JSON escapes it,
// forms percent-encode it), so the final newline only keeps the file tidy.
inline std::string to_text(const engine::http_request& r) {
  std::string out = r.method + " " + r.url + "\n";
  for (const auto& [name, value] : r.headers) out += name + ": " + value + "\n";
  return out + "\n" + r.body + "\n";
}

// The inverse shape for replies: "HTTP 429\nName: value\n\nBODY" (one final newline dropped).
inline engine::http_response parse_response(const std::string& text) {
  engine::http_response r;
  auto head_end = text.find("\n\n");
  std::string head = text.substr(0, head_end);
  std::string body = head_end == std::string::npos ? "" : text.substr(head_end + 2);
  if (!body.empty() && body.back() == '\n') body.pop_back();
  std::istringstream lines(head);
  std::string line;
  std::getline(lines, line);
  REQUIRE(line.rfind("HTTP ", 0) == 0);
  r.status = std::stoi(line.substr(5));
  while (std::getline(lines, line)) {
    auto colon = line.find(": ");
    REQUIRE(colon != std::string::npos);
    r.headers.emplace_back(line.substr(0, colon), line.substr(colon + 2));
  }
  r.body = body;
  return r;
}

inline std::string blame(engine::fault f) {
  return f == engine::fault::carrier ? "carrier" : "recipient";
}

inline std::string to_text(const engine::submit_verdict& v) {
  struct visitor {
    std::string operator()(const engine::accepted& a) const {
      return "accepted\ncarrier_id: " + a.carrier_id + "\n";
    }
    std::string operator()(const engine::rejected& r) const {
      return "rejected\ncode: " + r.code + "\ntext: " + r.text +
             "\nrecipient_opted_out: " + (r.recipient_opted_out ? "true" : "false") +
             "\nblame: " + blame(r.blame) + "\n";
    }
    std::string operator()(const engine::retry_later& r) const {
      return "retry_later\nafter_ms: " + std::to_string(r.after.count()) + "\ncode: " + r.code +
             "\ntext: " + r.text + "\nblame: " + blame(r.blame) + "\n";
    }
  };
  return std::visit(visitor{}, v);
}

// A webhook fixture: "METHOD URL\nname: value\n...\n\nBODY" (one final newline dropped). Header
// names are lower-cased; the pseudo-header "x-test-remote-address" is the peer's address and
// "x-test-received-at" the arrival time (ISO 8601), both removed from the headers.
inline engine::webhook_request parse_webhook_request(const std::string& text) {
  engine::webhook_request r;
  auto head_end = text.find("\n\n");
  std::string head = text.substr(0, head_end);
  std::string body = head_end == std::string::npos ? "" : text.substr(head_end + 2);
  if (!body.empty() && body.back() == '\n') body.pop_back();
  std::istringstream lines(head);
  std::string line;
  std::getline(lines, line);
  auto space = line.find(' ');
  REQUIRE(space != std::string::npos);
  r.method = line.substr(0, space);
  r.url = line.substr(space + 1);
  auto scheme_end = r.url.find("://");
  auto path_start = r.url.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
  std::string target = path_start == std::string::npos ? "/" : r.url.substr(path_start);
  auto q = target.find('?');
  r.path = target.substr(0, q);
  r.query = q == std::string::npos ? "" : target.substr(q + 1);
  while (std::getline(lines, line)) {
    auto colon = line.find(": ");
    REQUIRE(colon != std::string::npos);
    std::string name = line.substr(0, colon);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 2);
    if (name == "x-test-remote-address")
      r.remote_address = value;
    else if (name == "x-test-received-at")
      r.received_at = engine::parse_iso(value).value();
    else
      r.headers[name] = value;
  }
  r.body = body;
  return r;
}

inline std::string to_text(const engine::webhook_result& result) {
  if (const auto* refused = std::get_if<engine::webhook_refused>(&result))
    return "refused\nstatus: " + std::to_string(refused->status) + "\nreason: " + refused->reason +
           "\nsecurity: " + (refused->security ? "true" : "false") + "\n";
  const auto& events = std::get<engine::webhook_events>(result);
  std::string out;
  for (const auto& e : events.receipts)
    out += "receipt\ncarrier_id: " + e.carrier_id +
           "\nmessage_id: " + std::to_string(e.message_id) +
           "\nstate: " + std::string(engine::to_string(e.state)) + "\nstatus: " + e.status +
           "\nerror_code: " + e.error_code + "\nerror_text: " + e.error_text +
           "\nat: " + engine::format_iso(e.at) + "\n";
  for (const auto& e : events.inbound)
    out += "inbound\nfrom: " + e.from + "\nto: " + e.to + "\ntext: " + e.text +
           "\ncarrier_id: " + e.carrier_id + "\nat: " + engine::format_iso(e.at) + "\n";
  out += "reply_content_type: " + events.reply_content_type + "\nreply_body: " + events.reply_body +
         "\n";
  return out;
}

// A provider config as the loader would produce it, each key on its own line of "engine.yaml".
struct provider_builder {
  config::provider_config cfg;
  int line = 20;

  provider_builder(std::string name, std::string kind) {
    cfg.name = std::move(name);
    cfg.kind = std::move(kind);
    cfg.where = {"engine.yaml", line++, 3};
  }
  provider_builder& set(const std::string& key, std::string value) {
    cfg.settings[key] = {std::move(value), {"engine.yaml", line++, 5}};
    return *this;
  }
};

// A message with everything that needs escaping: quotes, backslash, newline, tab, CJK, emoji
// (outside the BMP), and the form separators '&', '=', '+' and a space.
inline engine::outbound_message tricky_message() {
  engine::outbound_message m;
  m.id = 1234567;
  m.to = "+8613800138000";
  m.text = "He said \"hi\" \\o/\nline2\t咖啡☕🎉 a=1&b=2+3 100%";
  return m;
}

}  // namespace pigeon::providers::test
