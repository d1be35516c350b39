#include "providers/registry.hpp"

#include <boost/url/parse.hpp>
#include <cctype>
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
    return simulator::make(cfg, ctx.simulator_url, ctx.simulator_secret);
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

std::vector<std::string> config_warnings(const config::engine_config& cfg) {
  std::vector<std::string> out;
  for (const auto& [name, p] : cfg.providers) {
    if (p.kind != "kannel") continue;
    auto w = kannel::warnings(p, cfg.public_url);
    out.insert(out.end(), w.begin(), w.end());
  }
  return out;
}

std::optional<std::string> off_loopback_url(const config::provider_config& cfg) {
  if (cfg.kind == "simulator") return std::nullopt;
  // Where the codec itself would send a message: its defaults (Twilio's base_url) included.
  engine::outbound_message probe;
  probe.to = "+10000000000";
  probe.text = "rehearsal";
  auto url = make_codec(cfg, {})->build_submit(probe).url;
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return "(an unreadable URL)";
  switch (parsed->host_type()) {
    case boost::urls::host_type::ipv4:
      if (parsed->host_ipv4_address().is_loopback()) return std::nullopt;
      break;
    case boost::urls::host_type::ipv6:
      if (parsed->host_ipv6_address().is_loopback()) return std::nullopt;
      break;
    case boost::urls::host_type::name: {
      std::string host = parsed->host();
      for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (host == "localhost") return std::nullopt;
      break;
    }
    default:
      break;
  }
  // Without the query or user info: Kannel's GET carries the password in the query.
  return std::string(parsed->scheme()) + "://" + std::string(parsed->encoded_host_and_port()) +
         std::string(parsed->encoded_path());
}

std::vector<std::string> available_kinds() {
  std::vector<std::string> out;
  for (const auto& [kind, make] : factories()) out.push_back(kind);
  return out;
}

}  // namespace pigeon::providers
