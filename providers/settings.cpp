#include "providers/settings.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <utility>

namespace pigeon::providers {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

bool declared(const std::vector<std::string>& keys, std::string_view key) {
  for (const auto& k : keys) {
    if (k.size() > 2 && k.ends_with(".*")) {
      std::string_view prefix(k.data(), k.size() - 1);  // keep the dot
      if (key.size() > prefix.size() && key.starts_with(prefix)) return true;
    } else if (k == key) {
      return true;
    }
  }
  return false;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

std::string base64(std::string_view in) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned n = (static_cast<unsigned char>(in[i]) << 16) |
                 (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += alphabet[(n >> shift) & 63];
  }
  if (std::size_t rest = in.size() - i; rest > 0) {
    unsigned n = static_cast<unsigned char>(in[i]) << 16;
    if (rest == 2) n |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += rest == 2 ? alphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace

settings_reader::settings_reader(const config::provider_config& cfg, std::string_view kind,
                                 std::vector<std::string> keys)
    : cfg_(cfg), kind_(kind) {
  for (const auto& [key, value] : cfg_.settings) {
    if (declared(keys, key)) continue;
    fail(value.where,
         "unknown key '" + key + "' for " + label() + "; expected one of: " + join(keys));
  }
}

const config::setting* settings_reader::find(std::string_view key) const {
  auto it = cfg_.settings.find(std::string(key));
  return it == cfg_.settings.end() ? nullptr : &it->second;
}

std::string settings_reader::get(std::string_view key, std::string_view fallback) const {
  const auto* s = find(key);
  return s ? s->value : std::string(fallback);
}

std::string settings_reader::required(std::string_view key) {
  const auto* s = find(key);
  if (!s) {
    fail(cfg_.where, label() + " needs key '" + std::string(key) + "'");
    return {};
  }
  if (s->value.empty())
    fail(s->where, "key '" + std::string(key) + "' of " + label() + " must not be empty");
  return s->value;
}

std::string settings_reader::one_of(std::string_view key, const std::vector<std::string>& choices) {
  const auto* s = find(key);
  if (!s) return choices.front();
  for (const auto& choice : choices)
    if (iequals(choice, s->value)) return choice;
  fail(s->where, "key '" + std::string(key) + "' of " + label() + " is '" + s->value +
                     "'; expected one of: " + join(choices));
  return choices.front();
}

std::chrono::milliseconds settings_reader::duration(std::string_view key,
                                                    std::chrono::milliseconds fallback) {
  const auto* s = find(key);
  if (!s) return fallback;
  std::chrono::milliseconds out{};
  if (!parse_duration(s->value, out)) {
    fail(s->where, "key '" + std::string(key) + "' of " + label() + " is '" + s->value +
                       "'; expected a positive duration such as 10s or 500ms");
    return fallback;
  }
  return out;
}

std::vector<std::pair<std::string, config::setting>> settings_reader::with_prefix(
    std::string_view prefix) const {
  std::vector<std::pair<std::string, config::setting>> out;
  for (const auto& [key, value] : cfg_.settings)
    if (key.size() > prefix.size() && key.starts_with(prefix))
      out.emplace_back(key.substr(prefix.size()), value);
  return out;
}

void settings_reader::fail(const config::source_location& where, std::string message) {
  issues_.push_back({where, std::move(message)});
}

void settings_reader::fail_at(std::string_view key, std::string message) {
  const auto* s = find(key);
  fail(s ? s->where : cfg_.where, std::move(message));
}

std::string settings_reader::label() const { return kind_ + " provider '" + cfg_.name + "'"; }

void settings_reader::throw_if_any() const {
  if (!issues_.empty()) throw config::config_error(issues_);
}

std::string basic_authorization(std::string_view username, std::string_view password) {
  std::string credentials(username);
  credentials += ':';
  credentials += password;
  return "Basic " + base64(credentials);
}

bool parse_duration(std::string_view text, std::chrono::milliseconds& out) {
  long long n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || end == text.data() || n <= 0) return false;
  std::string_view unit(end, text.data() + text.size() - end);
  // Bounded so the multiplication below cannot overflow: a day is already absurd for one
  // HTTP request.
  if (n > 86'400'000) return false;
  if (unit == "ms")
    out = std::chrono::milliseconds(n);
  else if (unit == "s")
    out = std::chrono::seconds(n);
  else if (unit == "m")
    out = std::chrono::minutes(n);
  else
    return false;
  return out <= std::chrono::hours(24);
}

}  // namespace pigeon::providers
