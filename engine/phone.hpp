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

// For logs: keeps the country code and the last 2 digits ("+86*********00").
std::string mask_phone(std::string_view e164);

}  // namespace pigeon::engine
