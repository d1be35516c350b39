#include "providers/registry.hpp"

#include <functional>
#include <map>
#include <string_view>

#include "providers/generic_http.hpp"
#include "providers/kannel.hpp"
#include "providers/simulator.hpp"
#include "providers/twilio.hpp"

namespace pigeon::providers {

namespace {

using factory = std::function<std::unique_ptr<engine::carrier_codec>(const config::provider_config&,
                                                                     const codec_context&)>;

// Built on each call: a handful of entries, used only at startup.
std::map<std::string, factory, std::less<>> factories() {
  std::map<std::string, factory, std::less<>> out;
  out.emplace("generic-http", [](const config::provider_config& cfg, const codec_context&) {
    return generic_http::make(cfg);
  });
  out.emplace("simulator", [](const config::provider_config& cfg, const codec_context& ctx) {
    return simulator::make(cfg, ctx.simulator_url);
  });
  out.emplace("kannel", [](const config::provider_config& cfg, const codec_context&) {
    return kannel::make(cfg);
  });
  out.emplace("twilio", [](const config::provider_config& cfg, const codec_context&) {
    return twilio::make(cfg);
  });
  return out;
}

std::string joined_kinds() {
  std::string out;
  for (const auto& kind : available_kinds()) out += (out.empty() ? "" : ", ") + kind;
  return out;
}

}  // namespace

std::unique_ptr<engine::carrier_codec> make_codec(const config::provider_config& cfg,
                                                  const codec_context& ctx) {
  auto all = factories();
  if (auto it = all.find(cfg.kind); it != all.end()) return it->second(cfg, ctx);
  std::string message = "provider '" + cfg.name + "' has kind '" + cfg.kind +
                        "', which is not a known provider kind (available: " + joined_kinds() + ")";
  throw config::config_error({{cfg.where, std::move(message)}});
}

std::vector<std::string> available_kinds() {
  std::vector<std::string> out;
  for (const auto& [kind, make] : factories()) out.push_back(kind);
  return out;
}

}  // namespace pigeon::providers
