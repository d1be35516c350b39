#include "engine/model/phone.hpp"

#include <date/tz.h>
#include <phonenumbers/phonenumberutil.h>

#include <cstdlib>
#include <fstream>
#include <list>
#include <map>
#include <set>
#include <sstream>
#include <unordered_map>
#include <vector>

namespace pigeon::engine {

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

namespace {

// Parses and validates `text` into `number`; returns why not, or "".
std::string parse_number(std::string_view text, std::string_view default_region,
                         PhoneNumber& number, bool keep_raw = false) {
  const PhoneNumberUtil& util = *PhoneNumberUtil::GetInstance();
  std::string raw(text);
  std::string region = default_region.empty() ? std::string("ZZ") : std::string(default_region);
  // keep_raw: country_code_source() then tells whether default_region supplied the code.
  switch (keep_raw ? util.ParseAndKeepRawInput(raw, region, &number)
                   : util.Parse(raw, region, &number)) {
    case PhoneNumberUtil::NO_PARSING_ERROR:
      break;
    case PhoneNumberUtil::INVALID_COUNTRY_CODE_ERROR:
      return default_region.empty()
                 ? "no country code: write it as +<country><number> or set default_region"
                 : "invalid country code";
    case PhoneNumberUtil::NOT_A_NUMBER:
      return "not a phone number";
    case PhoneNumberUtil::TOO_SHORT_AFTER_IDD:
    case PhoneNumberUtil::TOO_SHORT_NSN:
      return "too short";
    case PhoneNumberUtil::TOO_LONG_NSN:
      return "too long";
  }
  if (!util.IsValidNumber(number)) return "not a valid number for its region";
  return {};
}

}  // namespace

phone_result normalize_phone(std::string_view text, std::string_view default_region) {
  PhoneNumber number;
  if (auto error = parse_number(text, default_region, number); !error.empty())
    return {{}, std::move(error)};
  std::string e164;
  PhoneNumberUtil::GetInstance()->Format(number, PhoneNumberUtil::E164, &e164);
  return {std::move(e164), {}};
}

namespace {

// The zone a name stands for, links followed (Asia/Chongqing -> Asia/Shanghai); the name itself
// when the database does not know it.
std::string resolve_zone(const std::string& name) {
  try {
    return std::string(date::locate_zone(name)->name());
  } catch (const std::exception&) {
    return name;
  }
}

// Region -> its one zone, for regions with exactly one; and per calling code the zone when every
// region sharing that code has the same one (so most numbers need no parse).
struct zone_table {
  std::map<std::string, std::string> single_zone;  // region -> zone
  struct code_entry {
    bool uniform = false;  // every region of the code infers the same (possibly empty) zone
    std::string zone;
  };
  std::unordered_map<int, code_entry> by_code;
  // Every zone of zone.tab by region, and the set of them all, as resolved names (links followed).
  std::map<std::string, std::set<std::string>> region_zones;
  std::set<std::string> country_zones;

  zone_table() {
    const char* dir = std::getenv("TZDIR");
    std::ifstream in(std::string(dir && *dir ? dir : "/usr/share/zoneinfo") + "/zone.tab");
    std::map<std::string, std::set<std::string>> zones;
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      std::istringstream fields(line);
      std::string region, coordinates, zone;
      if (std::getline(fields, region, '\t') && std::getline(fields, coordinates, '\t') &&
          std::getline(fields, zone, '\t'))
        zones[region].insert(zone);
    }
    for (const auto& [region, names] : zones) {
      if (names.size() == 1) single_zone[region] = *names.begin();
      for (const auto& name : names) {
        auto resolved = resolve_zone(name);
        region_zones[region].insert(resolved);
        country_zones.insert(resolved);
      }
    }
    if (zones.contains("CN")) single_zone["CN"] = "Asia/Shanghai";
    const PhoneNumberUtil& util = *PhoneNumberUtil::GetInstance();
    std::set<int> codes;
    util.GetSupportedCallingCodes(&codes);
    for (int code : codes) {
      std::list<std::string> regions;
      util.GetRegionCodesForCountryCallingCode(code, &regions);
      code_entry entry{true, {}};
      bool first = true;
      for (const auto& region : regions) {
        std::string zone = zone_of(region);
        if (first) entry.zone = zone;
        if (!first && zone != entry.zone) entry.uniform = false;
        first = false;
      }
      by_code.emplace(code, std::move(entry));
    }
  }

  std::string zone_of(const std::string& region) const {
    auto it = single_zone.find(region);
    return it == single_zone.end() ? std::string() : it->second;
  }
};

const zone_table& zones() {
  static const zone_table table;
  return table;
}

}  // namespace

std::string_view phone_timezone(std::string_view e164) {
  if (e164.size() < 3 || e164[0] != '+') return {};
  const auto& table = zones();
  // Calling codes are prefix-free: the first 1-3 digits that name one are it.
  int code = 0;
  for (std::size_t i = 1; i < e164.size() && i <= 3; ++i) {
    char c = e164[i];
    if (c < '0' || c > '9') return {};
    code = code * 10 + (c - '0');
    auto it = table.by_code.find(code);
    if (it == table.by_code.end()) continue;
    if (it->second.uniform) return it->second.zone;
    // Regions sharing the code differ (+1: US, CA, JM, ...): ask libphonenumber.
    const PhoneNumberUtil& util = *PhoneNumberUtil::GetInstance();
    PhoneNumber number;
    if (util.Parse(std::string(e164), "ZZ", &number) != PhoneNumberUtil::NO_PARSING_ERROR)
      return {};
    std::string region;
    util.GetRegionCodeForNumber(number, &region);
    auto zone = table.single_zone.find(region);
    return zone == table.single_zone.end() ? std::string_view() : std::string_view(zone->second);
  }
  return {};
}

phone_result normalize_recipient(std::string_view text, std::string_view default_region,
                                 std::string_view tz) {
  const PhoneNumberUtil& util = *PhoneNumberUtil::GetInstance();
  PhoneNumber number;
  if (auto error = parse_number(text, default_region, number, true); !error.empty())
    return {{}, std::move(error)};
  std::string e164, region;
  util.Format(number, PhoneNumberUtil::E164, &e164);
  util.GetRegionCodeForNumber(number, &region);
  const bool region_assumed = number.country_code_source() == PhoneNumber::FROM_DEFAULT_COUNTRY;
  const std::string hint =
      region_assumed ? " (written without a country code, so default_region " +
                           std::string(default_region) + " supplied +" +
                           std::to_string(number.country_code()) + "; if it is not a number of " +
                           std::string(default_region) + ", write it as +<country><number>)"
                     : std::string();
  if (util.GetNumberType(number) == PhoneNumberUtil::FIXED_LINE)
    return {
        {},
        "a fixed-line number in " + region + " as " + e164 + ", which cannot receive SMS" + hint};
  if (region_assumed && !tz.empty()) {
    const auto& table = zones();
    auto resolved = resolve_zone(std::string(tz));
    auto own = table.region_zones.find(region);
    if (own != table.region_zones.end() && table.country_zones.contains(resolved) &&
        !own->second.contains(resolved))
      return {{},
              "tz " + std::string(tz) + " is not a time zone of " + region + ", the region of " +
                  e164 + hint};
  }
  return {std::move(e164), {}};
}

std::string_view recipient_timezone(std::string_view tz, std::string_view e164,
                                    std::string_view default_tz) {
  if (!tz.empty()) return tz;
  auto inferred = phone_timezone(e164);
  return inferred.empty() ? default_tz : inferred;
}

std::string mask_phone(std::string_view e164) {
  if (e164.starts_with("erased:")) return std::string(e164);  // no number (store::erase_contact)
  if (e164.size() <= 5) return std::string(e164.size(), '*');
  // Keep "+" and up to 3 country-code digits; the last 2 digits help on-call match reports.
  std::size_t keep_front = e164[0] == '+' ? 3 : 2;
  std::string out(e164.substr(0, keep_front));
  out.append(e164.size() - keep_front - 2, '*');
  out.append(e164.substr(e164.size() - 2));
  return out;
}

}  // namespace pigeon::engine
