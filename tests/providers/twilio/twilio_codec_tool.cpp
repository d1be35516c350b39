// twilio_codec_tool: prints, as JSON, the request the twilio codec builds, so the Prism
// contract test (tests/integration/twilio_prism.py) sends exactly that to the validating mock.
//
//   twilio_codec_tool BASE_URL TO TEXT [STATUS_CALLBACK_URL [MEDIA_URL...]]
//   -> {"method":"POST","url":"...","headers":[["Authorization","Basic ..."],...],"body":"..."}
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <iostream>

#include "providers/twilio.hpp"

int main(int argc, char** argv) {
  using namespace pigeon;
  if (argc < 4) {
    std::cerr << "usage: twilio_codec_tool BASE_URL TO TEXT [STATUS_CALLBACK_URL [MEDIA...]]\n";
    return 2;
  }
  config::provider_config cfg;
  cfg.name = "twilio";
  cfg.kind = "twilio";
  cfg.settings["base_url"] = {argv[1], {}};
  cfg.settings["account_sid"] = {"AC0123456789abcdef0123456789abcdef", {}};
  cfg.settings["auth_token"] = {"0123456789abcdef0123456789abcdef", {}};
  cfg.settings["from"] = {"+15550001111", {}};
  try {
    auto codec = providers::twilio::make(cfg);
    engine::outbound_message m;
    m.id = 42;
    m.to = argv[2];
    m.text = argv[3];
    if (argc > 4) m.status_callback_url = argv[4];
    for (int i = 5; i < argc; ++i) m.media.emplace_back(argv[i]);
    m.now = engine::parse_iso("2026-11-11T10:00:00Z");
    m.expires = engine::parse_iso("2026-11-11T11:00:00Z");
    auto request = codec->build_submit(m);
    boost::json::array headers;
    for (const auto& [name, value] : request.headers) headers.push_back({name, value});
    boost::json::object out{{"method", request.method},
                            {"url", request.url},
                            {"headers", std::move(headers)},
                            {"body", request.body}};
    std::cout << boost::json::serialize(out) << "\n";
    return 0;
  } catch (const config::config_error& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
}
