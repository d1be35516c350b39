#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pigeon::engine {

// Phone numbers as pigeon stores them: E.164 ("+8613800138000"), parsed with libphonenumber.
// Thread-safe (libphonenumber's PhoneNumberUtil is a thread-safe singleton).

struct phone_result {
  std::string e164;   // set on success
  std::string error;  // set on failure, a sentence for a person
};

// Parses any format libphonenumber understands. National numbers need `default_region`
// (ISO 3166 alpha-2, e.g. "CN"); with an empty region only "+..." numbers are accepted.
// Invalid numbers (parseable but not a valid number for their region) are errors too.
phone_result normalize_phone(std::string_view text, std::string_view default_region);

// normalize_phone, then what makes a number no recipient (the contacts CSV and POST /v1/contacts
// check these; `tz` is the row's zone, "" when it has none):
// - libphonenumber types it FIXED_LINE: a landline takes no SMS. FIXED_LINE_OR_MOBILE (every
//   +1 number) and numbers it cannot type are kept.
// - it was written without a country code, so default_region supplied one, and `tz` is a zone
//   of another country: the number is most likely foreign ("415-555-0102" with tz
//   America/New_York under default_region CN). Zones compare after resolving links; a zone of
//   no country (UTC, Etc/GMT-8) contradicts nothing. A number written with its country code
//   keeps any zone (a Chinese mobile used in New York).
phone_result normalize_recipient(std::string_view text, std::string_view default_region,
                                 std::string_view tz);

// The time zone a number implies, or "" when it does not tell: the number's region from
// libphonenumber (GetRegionCodeForNumber), then that region's zones from the system time-zone
// database (zone.tab under $TZDIR or /usr/share/zoneinfo); a zone only when the region has
// exactly one (GB -> Europe/London; US, RU, AU have many -> ""). One documented exception:
// CN -> Asia/Shanghai (China keeps one legal time; zone.tab also lists the unofficial
// Asia/Urumqi, which libphonenumber's own time-zone map never returns for +86). Debian's C++
// libphonenumber has no time-zone mapper, and the map that Debian ships (libphonenumber8-java,
// python3-phonenumbers) is Java-serialized or Python source, so pigeon does not read it.
// The table is built once, on first use; thread-safe.
std::string_view phone_timezone(std::string_view e164);

// The time zone a recipient is handled in (apply, plan and dispatch all use this): the
// contact's `tz` if set, else phone_timezone(phone), else `default_tz`.
std::string_view recipient_timezone(std::string_view tz, std::string_view e164,
                                    std::string_view default_tz);

// For logs: keeps the country code and the last 2 digits ("+86*********00"). An erased
// contact's placeholder ("erased:17", no number) is returned as it is.
std::string mask_phone(std::string_view e164);

}  // namespace pigeon::engine
