#include "engine/phone.hpp"

#include <phonenumbers/phonenumberutil.h>

namespace pigeon::engine {

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

phone_result normalize_phone(std::string_view text, std::string_view default_region) {
  const PhoneNumberUtil& util = *PhoneNumberUtil::GetInstance();
  std::string raw(text);
  std::string region = default_region.empty() ? std::string("ZZ") : std::string(default_region);
  PhoneNumber number;
  switch (util.Parse(raw, region, &number)) {
    case PhoneNumberUtil::NO_PARSING_ERROR:
      break;
    case PhoneNumberUtil::INVALID_COUNTRY_CODE_ERROR:
      return {{},
              default_region.empty()
                  ? "no country code: write it as +<country><number> or set default_region"
                  : "invalid country code"};
    case PhoneNumberUtil::NOT_A_NUMBER:
      return {{}, "not a phone number"};
    case PhoneNumberUtil::TOO_SHORT_AFTER_IDD:
    case PhoneNumberUtil::TOO_SHORT_NSN:
      return {{}, "too short"};
    case PhoneNumberUtil::TOO_LONG_NSN:
      return {{}, "too long"};
  }
  if (!util.IsValidNumber(number)) return {{}, "not a valid number for its region"};
  std::string e164;
  util.Format(number, PhoneNumberUtil::E164, &e164);
  return {std::move(e164), {}};
}

std::string mask_phone(std::string_view e164) {
  if (e164.size() <= 5) return std::string(e164.size(), '*');
  // Keep "+" and up to 3 country-code digits; the last 2 digits help on-call match reports.
  std::size_t keep_front = e164[0] == '+' ? 3 : 2;
  std::string out(e164.substr(0, keep_front));
  out.append(e164.size() - keep_front - 2, '*');
  out.append(e164.substr(e164.size() - 2));
  return out;
}

}  // namespace pigeon::engine
