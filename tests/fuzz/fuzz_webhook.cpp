// Every codec providers::make_codec can make (available_kinds(), so new kinds are picked up):
// webhook parsing and submit-reply parsing never crash on any request.
//
// Input: byte 0 picks the codec, byte 1 the webhook kind and method; then header lines
// ("name: value") up to an empty line, a query line, and the body.
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/source_location.hpp"
#include "providers/registry.hpp"

namespace {

using pigeon::engine::carrier_codec;

// Settings that satisfy the kinds known today; a kind none of them satisfies is reported once
// and skipped (add its settings here).
const std::vector<std::map<std::string, std::string>> candidate_settings{
    {{"url", "http://127.0.0.1:1/send"}},
    {{"url", "http://127.0.0.1:1/send"}, {"webhook_secret", "fuzz-secret"}},  // simulator
    {{"url", "http://127.0.0.1:1/send"}, {"account_sid", "AC123"}, {"auth_token", "secret"}},
    {{"url", "http://127.0.0.1:1/send"}, {"username", "u"}, {"password", "p"}},
    {{"account_sid", "AC123"}, {"auth_token", "secret"}},
};

std::vector<std::unique_ptr<carrier_codec>> make_all() {
  std::vector<std::unique_ptr<carrier_codec>> codecs;
  for (const auto& kind : pigeon::providers::available_kinds()) {
    bool made = false;
    for (const auto& settings : candidate_settings) {
      pigeon::config::provider_config cfg;
      cfg.name = "fuzz";
      cfg.kind = kind;
      for (const auto& [k, v] : settings) cfg.settings[k] = {v, {"fuzz.yaml", 1, 1}};
      pigeon::providers::codec_context ctx;
      ctx.simulator_url = "http://127.0.0.1:1";
      ctx.status_callback_base = "https://sms.example.com";
      try {
        codecs.push_back(pigeon::providers::make_codec(cfg, ctx));
        made = true;
        break;
      } catch (const pigeon::config::config_error&) {
      }
    }
    if (!made) std::fprintf(stderr, "fuzz_webhook: no settings make a '%s' codec\n", kind.c_str());
  }
  return codecs;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto codecs = make_all();
  if (codecs.empty() || size < 2) return 0;
  const auto& codec = *codecs[data[0] % codecs.size()];
  pigeon::engine::webhook_request req;
  auto kind =
      data[1] & 1 ? pigeon::engine::webhook_kind::inbound : pigeon::engine::webhook_kind::status;
  req.method = data[1] & 2 ? "GET" : "POST";
  req.remote_address = data[1] & 4 ? "127.0.0.1" : "203.0.113.9";
  std::string rest(reinterpret_cast<const char*>(data) + 2, size - 2);
  std::size_t pos = 0;
  while (pos < rest.size()) {
    auto end = rest.find('\n', pos);
    if (end == std::string::npos) end = rest.size();
    std::string line = rest.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty()) break;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.erase(0, 1);
    req.headers[name] = value;
  }
  if (pos < rest.size()) {
    auto end = rest.find('\n', pos);
    if (end == std::string::npos) end = rest.size();
    req.query = rest.substr(pos, end - pos);
    pos = end + 1;
  }
  if (pos < rest.size()) req.body = rest.substr(pos);
  req.path = std::string("/webhooks/fuzz/") +
             (kind == pigeon::engine::webhook_kind::inbound ? "inbound" : "status");
  req.url = "https://sms.example.com" + req.path + (req.query.empty() ? "" : "?" + req.query);
  (void)codec.parse_webhook(kind, req);

  pigeon::engine::http_response res;
  res.status = 100 + (data[1] >> 3) * 16;
  res.body = req.body;
  for (const auto& [k, v] : req.headers) res.headers.emplace_back(k, v);
  (void)codec.parse_submit_reply(res);
  if (codec.max_batch() > 1) (void)codec.parse_submit_batch_reply(res, 1 + data[1] % 4);
  return 0;
}
