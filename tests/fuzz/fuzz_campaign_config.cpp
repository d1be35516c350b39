// The campaign YAML loader: any text loads or throws config_error with located issues.
#include <cassert>
#include <cstdint>
#include <string>

#include "config/campaign.hpp"
#include "config/source_location.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    (void)pigeon::config::parse_campaign(text, "fuzz.yaml");
  } catch (const pigeon::config::config_error& e) {
    assert(!e.issues().empty());
  }
  return 0;
}
