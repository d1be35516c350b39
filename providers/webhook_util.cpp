#include "providers/webhook_util.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <openssl/sha.h>

#include <boost/url/encode.hpp>
#include <boost/url/parse_query.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <cctype>
#include <memory>

namespace pigeon::providers {

std::optional<form_params> parse_form(std::string_view encoded) {
  if (encoded.empty()) return form_params{};
  auto parsed = boost::urls::parse_query(boost::core::string_view(encoded.data(), encoded.size()));
  if (!parsed) return std::nullopt;
  boost::urls::encoding_opts opts;
  opts.space_as_plus = true;
  form_params out;
  for (auto param : *parsed) {
    if (param.key.empty() && !param.has_value) continue;
    std::string key = param.key.decode(opts);
    std::string value = param.has_value ? param.value.decode(opts) : std::string();
    out.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

const std::string* find_param(const form_params& params, std::string_view key) {
  for (const auto& [k, v] : params)
    if (k == key) return &v;
  return nullptr;
}

std::string form_encode(std::string_view value, bool space_as_plus) {
  boost::urls::encoding_opts opts;
  opts.space_as_plus = space_as_plus;
  if (value.empty()) return {};
  return boost::urls::encode(boost::core::string_view(value.data(), value.size()),
                             boost::urls::unreserved_chars, opts);
}

namespace {

struct mac_ctx_free {
  void operator()(EVP_MAC_CTX* ctx) const { EVP_MAC_CTX_free(ctx); }
};
using mac_ctx_ptr = std::unique_ptr<EVP_MAC_CTX, mac_ctx_free>;

// An HMAC context for `digest` with the algorithm already fetched, or null. OpenSSL 3's
// one-shot HMAC() fetches the MAC and the digest on every call (a locked lookup each); this
// fetches them once per thread and only re-keys the context per message.
mac_ctx_ptr make_mac_ctx(const char* digest) {
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);  // never freed
  if (!mac) return nullptr;
  mac_ctx_ptr ctx(EVP_MAC_CTX_new(mac));
  if (!ctx) return nullptr;
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", const_cast<char*>(digest), 0),
                         OSSL_PARAM_construct_end()};
  if (EVP_MAC_CTX_set_params(ctx.get(), params) != 1) return nullptr;
  return ctx;
}

std::string hmac(EVP_MAC_CTX* ctx, const EVP_MD* md, std::string_view key,
                 std::string_view message) {
  unsigned char out[EVP_MAX_MD_SIZE];
  const auto* data = reinterpret_cast<const unsigned char*>(message.data());
  // An empty key is passed as a 1-byte buffer of length 0 (a null key would mean "keep the
  // previous key").
  static const unsigned char no_key = 0;
  const auto* k = key.empty() ? &no_key : reinterpret_cast<const unsigned char*>(key.data());
  std::size_t len = 0;
  if (ctx && EVP_MAC_init(ctx, k, key.size(), nullptr) == 1 &&
      EVP_MAC_update(ctx, data, message.size()) == 1 &&
      EVP_MAC_final(ctx, out, &len, sizeof out) == 1)
    return std::string(reinterpret_cast<const char*>(out), len);
  unsigned int n = 0;  // the context could not be made: the one-shot call
  HMAC(md, key.data(), static_cast<int>(key.size()), data, message.size(), out, &n);
  return std::string(reinterpret_cast<const char*>(out), n);
}

}  // namespace

std::string hmac_sha1(std::string_view key, std::string_view message) {
  thread_local const mac_ctx_ptr ctx = make_mac_ctx("SHA1");
  return hmac(ctx.get(), EVP_sha1(), key, message);
}

std::string hmac_sha256(std::string_view key, std::string_view message) {
  thread_local const mac_ctx_ptr ctx = make_mac_ctx("SHA256");
  return hmac(ctx.get(), EVP_sha256(), key, message);
}

std::string sha256(std::string_view message) {
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(message.data()), message.size(), out);
  return std::string(reinterpret_cast<const char*>(out), sizeof out);
}

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string hex_encode(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return a.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string media_type(std::string_view content_type) {
  auto semi = content_type.find(';');
  std::string_view type = content_type.substr(0, semi);
  while (!type.empty() && std::isspace(static_cast<unsigned char>(type.back())))
    type.remove_suffix(1);
  while (!type.empty() && std::isspace(static_cast<unsigned char>(type.front())))
    type.remove_prefix(1);
  std::string out(type);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace pigeon::providers
