#pragma once

// Golden-file helpers for the codec tests: requests and verdicts are rendered as text and
// compared byte for byte with files under tests/providers/<codec>/fixtures/.
// PIGEON_UPDATE_GOLDEN=1 rewrites the expected files instead (review the diff before keeping).

#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <variant>

#include "config/engine_config.hpp"
#include "engine/carrier.hpp"

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

inline std::string to_text(const engine::submit_verdict& v) {
  struct visitor {
    std::string operator()(const engine::accepted& a) const {
      return "accepted\ncarrier_id: " + a.carrier_id + "\n";
    }
    std::string operator()(const engine::rejected& r) const {
      return "rejected\ncode: " + r.code + "\ntext: " + r.text +
             "\nrecipient_opted_out: " + (r.recipient_opted_out ? "true" : "false") + "\n";
    }
    std::string operator()(const engine::retry_later& r) const {
      return "retry_later\nafter_ms: " + std::to_string(r.after.count()) + "\ncode: " + r.code +
             "\ntext: " + r.text + "\n";
    }
  };
  return std::visit(visitor{}, v);
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
