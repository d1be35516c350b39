#include "engine/ops/log_format.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <cctype>
#include <chrono>
#include <ctime>

#include "engine/model/phone.hpp"

namespace pigeon::engine::ops {

namespace {

constexpr const char* text_pattern = "%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v";

class masking_formatter final : public spdlog::formatter {
 public:
  explicit masking_formatter(log_style style)
      : style_(style), text_(std::make_unique<spdlog::pattern_formatter>(text_pattern)) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string payload = mask_phones_in(std::string_view(msg.payload.data(), msg.payload.size()));
    if (style_ == log_style::text) {
      spdlog::details::log_msg masked = msg;
      masked.payload = payload;
      text_->format(masked, dest);
      return;
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch());
    std::time_t secs = static_cast<std::time_t>(ms.count() / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char when[40];
    std::size_t n = std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(when + n, sizeof when - n, ".%03dZ", static_cast<int>(ms.count() % 1000));
    auto level = spdlog::level::to_string_view(msg.level);
    std::string line = "{\"time\":\"" + std::string(when) + "\",\"level\":\"" +
                       std::string(level.data(), level.size()) +
                       "\",\"msg\":" + boost::json::serialize(boost::json::string(payload)) + "}\n";
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<masking_formatter>(style_);
  }

 private:
  log_style style_;
  std::unique_ptr<spdlog::pattern_formatter> text_;
};

}  // namespace

std::string mask_phones_in(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    if (text[i] == '+') {
      std::size_t j = i + 1;
      while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
      std::size_t digits = j - i - 1;
      if (digits >= 8 && digits <= 15) {
        out += mask_phone(text.substr(i, j - i));
        i = j;
        continue;
      }
    }
    out += text[i++];
  }
  return out;
}

std::unique_ptr<spdlog::formatter> make_log_formatter(log_style style) {
  return std::make_unique<masking_formatter>(style);
}

void use_log_style(log_style style) { spdlog::set_formatter(make_log_formatter(style)); }

}  // namespace pigeon::engine::ops
