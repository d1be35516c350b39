#include "engine/inbound/webhook_guard.hpp"

#include <openssl/evp.h>
#include <spdlog/spdlog.h>

namespace pigeon::engine::inbound {

namespace {

std::int64_t window_index(std::chrono::steady_clock::time_point now) {
  return std::chrono::duration_cast<std::chrono::minutes>(now.time_since_epoch()).count() /
         refusal_log::recent_window.count();
}

}  // namespace

void refusal_log::refused(const std::string& provider, int status, std::string_view path,
                          std::string_view reason, std::chrono::steady_clock::time_point now) {
  auto& e = entries_[{provider, status}];
  ++e.total;
  auto w = window_index(now);
  if (w != e.window) {
    e.previous = w == e.window + 1 ? e.current : 0;
    e.current = 0;
    e.window = w;
  }
  ++e.current;
  if (e.logged_at != std::chrono::steady_clock::time_point{} && now - e.logged_at < log_interval) {
    ++e.unlogged;
    return;
  }
  if (e.unlogged > 0) {
    spdlog::warn("webhook {} refused ({}): {}; {} more like it since the last line", path, status,
                 reason, e.unlogged);
  } else {
    spdlog::warn("webhook {} refused ({}): {}", path, status, reason);
  }
  e.unlogged = 0;
  e.logged_at = now;
}

std::vector<refusal_count> refusal_log::counts(std::chrono::steady_clock::time_point now) const {
  std::vector<refusal_count> out;
  auto w = window_index(now);
  for (const auto& [key, e] : entries_) {
    std::uint64_t recent = 0;
    if (e.window == w) recent = e.current + e.previous;
    if (e.window == w - 1) recent = e.current;
    out.push_back({key.first, key.second, e.total, recent});
  }
  return out;
}

namespace {

std::string sha256(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &size, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(digest), size);
}

}  // namespace

void replay_guard::forget(std::string_view signed_request) { seen_.erase(sha256(signed_request)); }

bool replay_guard::first_time(std::string_view signed_request, time_point now) {
  while (!order_.empty() &&
         (order_.front().second + window <= now || order_.size() >= max_remembered)) {
    seen_.erase(order_.front().first);
    order_.pop_front();
  }
  std::string key = sha256(signed_request);
  if (!seen_.insert(key).second) return false;
  order_.emplace_back(std::move(key), now);
  return true;
}

}  // namespace pigeon::engine::inbound
