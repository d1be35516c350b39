#pragma once
// Internal to pigeon_config: the campaign file's sections besides its root, steps and audience
// (config/campaign.cpp): `trigger`, `replies`, `ab_test` and `caps`, read into the campaign
// with every issue recorded on the reader (config/campaign_sections.cpp).

#include <yaml-cpp/yaml.h>

#include <string>
#include <string_view>

#include "config/campaign.hpp"
#include "config/yaml_reader.hpp"

namespace pigeon::config::detail {

// "steps[3]".
inline std::string indexed(std::string_view path, std::size_t i) {
  return std::string(path) + "[" + std::to_string(i) + "]";
}

// `opt_out`, `reply:X` or `event:NAME` (stop_on, ab_test.metric).
bool valid_trigger(const std::string& text);

void read_trigger(yaml_reader& reader, const YAML::Node& node, campaign_config& campaign);
void read_replies(yaml_reader& reader, const YAML::Node& node, campaign_config& campaign);
void read_ab_test(yaml_reader& reader, const YAML::Node& node, campaign_config& campaign);
void read_caps(yaml_reader& reader, const YAML::Node& node, campaign_config& campaign);

}  // namespace pigeon::config::detail
