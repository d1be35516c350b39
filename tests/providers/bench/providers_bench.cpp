// providers_bench: CPU cost of the codecs on the hot paths, one thread: building a submit
// request and parsing (authenticating) one webhook, per carrier kind. Run through
// scripts/bench_providers.sh; figures in docs/BENCHMARKS.md.
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

#include "providers/generic_http.hpp"
#include "providers/kannel.hpp"
#include "providers/twilio.hpp"
#include "providers/webhook_util.hpp"

namespace {

using namespace pigeon;

double thread_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::size_t sink = 0;  // keeps results observable

void measure(const char* name, long iterations, const std::function<std::size_t()>& op) {
  for (long i = 0; i < iterations / 100; ++i) sink += op();  // warm-up
  const double start = thread_seconds();
  for (long i = 0; i < iterations; ++i) sink += op();
  const double elapsed = thread_seconds() - start;
  std::printf("%-34s %9.0f ns/op %12.0f ops/s per core\n", name, elapsed * 1e9 / iterations,
              iterations / elapsed);
}

config::provider_config provider(const char* kind,
                                 std::initializer_list<std::pair<const char*, const char*>> kv) {
  config::provider_config cfg;
  cfg.name = kind;
  cfg.kind = kind;
  for (const auto& [k, v] : kv) cfg.settings[k] = {v, {}};
  return cfg;
}

std::size_t events_of(const engine::webhook_result& r) {
  const auto* e = std::get_if<engine::webhook_events>(&r);
  if (!e) std::abort();  // a benchmark of refusals would measure nothing
  return e->receipts.size() + e->inbound.size();
}

}  // namespace

int main(int argc, char** argv) {
  const long n = argc > 1 ? std::atol(argv[1]) : 200000;
  const std::string token = "0123456789abcdef0123456789abcdef";
  auto twilio = providers::twilio::make(
      provider("twilio", {{"account_sid", "AC0123456789abcdef0123456789abcdef"},
                          {"auth_token", token.c_str()},
                          {"from", "+15550001111"}}));
  auto kannel =
      providers::kannel::make(provider("kannel", {{"url", "http://127.0.0.1:13013/cgi-bin/sendsms"},
                                                  {"username", "pigeon"},
                                                  {"password", "secret"},
                                                  {"webhook_token", "tok-0123456789abcdef"}}));
  auto generic = providers::generic_http::make(
      provider("generic-http", {{"url", "http://127.0.0.1:18080/send"},
                                {"auth", "hmac"},
                                {"hmac_secret", "hmac-secret-1"},
                                {"webhook_secret", "whsec-0123456789"}}));

  engine::outbound_message m;
  m.id = 123456789;
  m.to = "+8613800138000";
  m.text = "【咖啡】张三,您的双11咖啡券还有3天到期,回1领取试用装,回T退订";
  m.status_callback_url = "https://sms.example.com/webhooks/main/status";
  m.now = engine::parse_iso("2026-11-12T02:30:00Z");
  m.expires = engine::parse_iso("2026-11-12T12:30:00Z");

  measure("twilio build_submit", n, [&] { return twilio->build_submit(m).body.size(); });
  measure("kannel build_submit", n, [&] { return kannel->build_submit(m).url.size(); });
  measure("generic-http build_submit (hmac)", n,
          [&] { return generic->build_submit(m).body.size(); });

  // A Twilio status callback as Twilio signs it.
  engine::webhook_request tw;
  tw.method = "POST";
  tw.url = "https://sms.example.com/webhooks/main/status?id=123456789";
  tw.query = "id=123456789";
  tw.body =
      "AccountSid=AC0123456789abcdef0123456789abcdef&ApiVersion=2010-04-01&From=%2B15550001111&"
      "MessageSid=SM0123456789abcdef0123456789abcdef&MessageStatus=delivered&"
      "SmsSid=SM0123456789abcdef0123456789abcdef&SmsStatus=delivered&To=%2B8613800138000";
  tw.headers["content-type"] = "application/x-www-form-urlencoded";
  tw.headers["x-twilio-signature"] =
      providers::twilio::compute_signature(token, tw.url, *providers::parse_form(tw.body));
  measure("twilio parse_webhook (signed DLR)", n,
          [&] { return events_of(twilio->parse_webhook(engine::webhook_kind::status, tw)); });

  engine::webhook_request kw;
  kw.method = "GET";
  kw.query = "id=123456789&token=tok-0123456789abcdef&type=1&ts=1794450600&smsc=fake&reply=ACK";
  kw.url = "http://127.0.0.1:8080/webhooks/backup/status?" + kw.query;
  kw.remote_address = "127.0.0.1";
  measure("kannel parse_webhook (DLR)", n,
          [&] { return events_of(kannel->parse_webhook(engine::webhook_kind::status, kw)); });

  engine::webhook_request gw;
  gw.method = "POST";
  gw.body = R"({"id":"gw-1","ref":"123456789","status":"delivered"})";
  gw.received_at = *engine::parse_iso("2026-11-12T02:30:10Z");
  gw.headers["x-timestamp"] = "1794450600";
  gw.headers["x-signature"] =
      providers::hex_encode(providers::hmac_sha256("whsec-0123456789", "1794450600." + gw.body));
  measure("generic-http parse_webhook (HMAC)", n,
          [&] { return events_of(generic->parse_webhook(engine::webhook_kind::status, gw)); });
  return sink == 0 ? 1 : 0;
}
