#pragma once

// Log output of the engine: text (the default pattern) or one JSON object per line, for log
// shippers. In both, anything in a message that looks like a phone number in E.164 ("+" and
// 8 to 15 digits) is masked with mask_phone as a safety net: code should already mask.
//
// Threading: call once at startup, before other threads log.

#include <spdlog/formatter.h>

#include <memory>
#include <string>

namespace pigeon::engine::ops {

enum class log_style { text, json };

// Installs the formatter on the default logger.
void use_log_style(log_style style);

// The formatter itself (exposed for tests): {"time":"...Z","level":"info","msg":"..."}.
std::unique_ptr<spdlog::formatter> make_log_formatter(log_style style);

// Masks every "+" followed by 8 to 15 digits in `text`.
std::string mask_phones_in(std::string_view text);

}  // namespace pigeon::engine::ops
