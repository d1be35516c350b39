#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace pigeon::templates {

// The byte offset (from 0) of the first invalid UTF-8 sequence in `text` (a stray continuation
// byte, a truncated sequence, an overlong form, an encoded surrogate, a value above U+10FFFF),
// or nullopt when all of it is valid. A literal U+FFFD (EF BF BD) is valid.
std::optional<std::size_t> first_invalid_utf8(std::string_view text);

}  // namespace pigeon::templates
