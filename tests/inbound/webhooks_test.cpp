#include "engine/inbound/webhooks.hpp"

#include <doctest/doctest.h>

#include <future>

#include "support.hpp"

using namespace pigeon;
using namespace pigeon::engine;
using namespace pigeon::engine::inbound;
using namespace pigeon::engine::sqlite;
using namespace pigeon::engine::test;
namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

const std::string ann = "+8613800138000";

// A codec for tests: authentic when `X-Sig: ok`; status bodies are "<message id> <status>",
// inbound bodies "<from> <text>". Remembers the URL it was given.
class test_codec final : public carrier_codec {
 public:
  std::string_view kind() const override { return "test"; }
  http_request build_submit(const outbound_message&) const override { return {}; }
  submit_verdict parse_submit_reply(const http_response&) const override { return accepted{}; }
  webhook_result parse_webhook(webhook_kind kind, const webhook_request& r) const override {
    last_url = r.url;
    auto sig = r.headers.find("x-sig");
    if (sig == r.headers.end() || sig->second != "ok")
      return webhook_refused{403, "bad signature", true};
    auto space = r.body.find(' ');
    if (space == std::string::npos) return webhook_refused{400, "expected two words", false};
    auto first = r.body.substr(0, space), second = r.body.substr(space + 1);
    webhook_events events;
    if (kind == webhook_kind::status) {
      delivery_event e;
      e.message_id = std::stoll(first);
      e.status = second;
      e.state = second == "delivered" ? message_state::delivered : message_state::submitted;
      events.receipts.push_back(e);
    } else {
      inbound_event e;
      e.from = first;
      e.text = second;
      events.inbound.push_back(e);
      events.reply_content_type = "application/xml";
      events.reply_body = "<Response/>";
    }
    return events;
  }
  mutable std::string last_url;
};

struct server_world {
  temp_dir dir;
  std::string path = dir.file("p.db");
  std::vector<std::int64_t> ids;
  std::int64_t sent = 0;
  std::shared_ptr<test_codec> codec = std::make_shared<test_codec>();
  simulated_clock clk{at_ms(3600 * 1000)};
  std::unique_ptr<async_store> store;

  explicit server_world() {
    auto s = sqlite_store::open(path);
    ids = s->upsert_contacts({make_contact(ann)});
    save_reply_campaign(*s, "promo", {});
    sent = send(*s, "promo", "s1", ids[0], 1000, "", "sim");
    s->enqueue({make_message("promo", "s2", ids[0], 7200 * 1000)});
    store = std::make_unique<async_store>(std::move(s));
  }

  net::http_response_t call(webhook_handler& h, http::verb method, const std::string& target,
                            std::string body, std::string sig = "ok") {
    net::http_request_t req{method, target, 11};
    req.set(http::field::host, "evil.example.com");
    if (!sig.empty()) req.set("X-Sig", sig);
    req.body() = std::move(body);
    req.prepare_payload();
    asio::io_context io;
    auto f = asio::co_spawn(io, h(std::move(req)), asio::use_future);
    io.run();
    return f.get();
  }

  webhook_handler handler(webhook_recorder recorder = {}) {
    if (!recorder) recorder = default_recorder(make_reply_policy(reply_engine_config()));
    return webhook_handler(*store, clk, {{"sim", codec}}, "https://sms.example.com/",
                           std::move(recorder));
  }

  // What another process would read from the database file right now.
  std::unique_ptr<sqlite_store> reader() { return sqlite_store::open(path); }
};

}  // namespace

TEST_CASE("a delivery receipt gets its 2xx only once it is in the database") {
  server_world w;
  auto h = w.handler();
  auto res = w.call(h, http::verb::post, "/webhooks/sim/status?x=1",
                    std::to_string(w.sent) + " delivered");
  CHECK(res.result_int() == 200);
  CHECK(state_of(*w.reader(), w.sent) == message_state::delivered);
  CHECK(h.stats().receipts == 1);
  // The URL the codec checks signatures against is the configured one, not the Host header.
  CHECK(w.codec->last_url == "https://sms.example.com/webhooks/sim/status?x=1");
  // A repeat is answered 2xx (the carrier must stop retrying) and counted as a duplicate.
  CHECK(w.call(h, http::verb::post, "/webhooks/sim/status", std::to_string(w.sent) + " delivered")
            .result_int() == 200);
  CHECK(h.stats().duplicate_receipts == 1);
}

TEST_CASE("a webhook that cannot be recorded is answered 503 so the carrier retries") {
  server_world w;
  auto h = w.handler([](store&, const std::string&, const webhook_events&,
                        time_point) -> webhook_summary { throw store_error("disk full"); });
  auto res =
      w.call(h, http::verb::post, "/webhooks/sim/status", std::to_string(w.sent) + " delivered");
  CHECK(res.result_int() == 503);
  CHECK(h.stats().store_failures == 1);
  CHECK(h.stats().accepted == 0);
  CHECK(state_of(*w.reader(), w.sent) == message_state::submitted);
}

TEST_CASE("unknown providers are 404 and refused signatures 403, counted as security refusals") {
  server_world w;
  auto h = w.handler();
  CHECK(w.call(h, http::verb::post, "/webhooks/nope/status", "1 delivered").result_int() == 404);
  CHECK(w.call(h, http::verb::post, "/webhooks/sim/other", "1 delivered").result_int() == 404);
  CHECK(w.call(h, http::verb::post, "/elsewhere", "").result_int() == 404);
  auto forged = w.call(h, http::verb::post, "/webhooks/sim/status",
                       std::to_string(w.sent) + " delivered", "forged");
  CHECK(forged.result_int() == 403);
  CHECK(forged.body().find("bad signature") != std::string::npos);
  CHECK(w.call(h, http::verb::post, "/webhooks/sim/status", "garbage").result_int() == 400);
  CHECK(h.stats().not_found == 3);
  CHECK(h.stats().refused == 2);
  CHECK(h.stats().security_refused == 1);
  CHECK(w.call(h, http::verb::delete_, "/webhooks/sim/status", "").result_int() == 405);
  CHECK(state_of(*w.reader(), w.sent) == message_state::submitted);
}

TEST_CASE("a STOP through the webhook suppresses the queued step and answers the codec's reply") {
  server_world w;
  auto h = w.handler();
  // GET works too (Kannel calls back with GET).
  auto res = w.call(h, http::verb::get, "/webhooks/sim/inbound", ann + " stop");
  CHECK(res.result_int() == 200);
  CHECK(res.body() == "<Response/>");
  CHECK(res[http::field::content_type] == "application/xml");
  CHECK(h.stats().opt_outs == 1);
  auto r = w.reader();
  CHECK(r->messages({"promo", message_state::suppressed, 0}).size() == 1);
  auto replies = r->replies({});
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].action == "opt_out");
}

TEST_CASE("webhook text that is not UTF-8, carries a NUL or names no phone is refused with 400") {
  server_world w;
  auto h = w.handler();
  auto refused = [&](const std::string& body) {
    auto res = w.call(h, http::verb::post, "/webhooks/sim/inbound", body);
    CHECK(res.result_int() == 400);
    return res.body();
  };
  CHECK(refused(ann + " caf\xff").find("inbound text is not valid UTF-8 (byte 3)") !=
        std::string::npos);
  CHECK(refused(ann + " a" + std::string(1, '\0') + "b").find("NUL") != std::string::npos);
  CHECK(refused("+1212555\xff"
                "0101 hi")
            .find("inbound sender (from)") != std::string::npos);
  CHECK(refused("+99912 hi").find("is not a phone number") != std::string::npos);
  auto r = w.reader();
  CHECK(r->replies({}).empty());
  CHECK_FALSE(r->find_contact("+99912").has_value());
  // A national number is read in the default region and stored in E.164.
  auto h_cn = webhook_handler(*w.store, w.clk, {{"sim", w.codec}}, "https://sms.example.com/",
                              default_recorder(make_reply_policy(reply_engine_config())), "CN");
  CHECK(w.call(h_cn, http::verb::post, "/webhooks/sim/inbound", "13800138000 hello").result_int() ==
        200);
  auto replies = w.reader()->replies({});
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].phone == ann);
}

TEST_CASE("a signed MO without a carrier id replayed within the window is refused, not answered") {
  server_world w;
  auto h = w.handler();
  // The test codec's MOs carry no carrier id (like generic-http without /id, Kannel without id).
  CHECK(w.call(h, http::verb::post, "/webhooks/sim/inbound", ann + " HELP").result_int() == 200);
  auto replay = w.call(h, http::verb::post, "/webhooks/sim/inbound", ann + " HELP");
  CHECK(replay.result_int() == 409);
  CHECK(replay.body().find("replayed request") != std::string::npos);
  CHECK(w.reader()->replies({}).size() == 1);
  // Another text is another request.
  CHECK(w.call(h, http::verb::post, "/webhooks/sim/inbound", ann + " INFO").result_int() == 200);
  auto counts = h.refusals();
  REQUIRE(counts.size() == 1);
  CHECK(counts[0].provider == "sim");
  CHECK(counts[0].status == 409);
  CHECK(counts[0].total == 1);
  CHECK(counts[0].recent == 1);
}

TEST_CASE("refusals are all counted but logged once per provider and status every 10 s") {
  refusal_log log;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 1000; ++i)
    log.refused("carrier", 403, "/webhooks/carrier/status", "signature does not match",
                t0 + std::chrono::milliseconds(i));
  log.refused("carrier", 400, "/webhooks/carrier/status", "bad", t0);
  auto counts = log.counts(t0 + std::chrono::seconds(1));
  REQUIRE(counts.size() == 2);
  CHECK(counts[0].status == 400);
  CHECK(counts[1].status == 403);
  CHECK(counts[1].total == 1000);
  CHECK(counts[1].recent == 1000);
  // Long after, nothing is recent any more.
  CHECK(log.counts(t0 + std::chrono::minutes(20))[1].recent == 0);
}

TEST_CASE("the replay guard remembers a request for its window and forgets it on request") {
  replay_guard g;
  auto t0 = at_ms(1000);
  CHECK(g.first_time("req", t0));
  CHECK_FALSE(g.first_time("req", t0 + std::chrono::minutes(9)));
  CHECK(g.first_time("req", t0 + std::chrono::minutes(11)));
  CHECK(g.first_time("other", t0 + std::chrono::minutes(11)));
  g.forget("other");
  CHECK(g.first_time("other", t0 + std::chrono::minutes(11)));
}

TEST_CASE("webhooks arriving together share a store job and one that fails alone gets its 503") {
  server_world w;
  // Receipts for message 0 cannot be recorded; the others go through the default recorder.
  auto normal = default_recorder(make_reply_policy(reply_engine_config()));
  auto h = w.handler([normal](store& s, const std::string& provider, const webhook_events& e,
                              time_point now) -> webhook_summary {
    if (!e.receipts.empty() && e.receipts[0].message_id == 0) {
      normal(s, provider, e, now);  // its work is undone with its savepoint
      throw store_error("cannot record this one");
    }
    return normal(s, provider, e, now);
  });
  const auto jobs_before = w.store->statistics().jobs;
  asio::io_context io;
  std::vector<std::future<net::http_response_t>> answers;
  for (int i = 0; i < 20; ++i) {
    net::http_request_t req{http::verb::post, "/webhooks/sim/status", 11};
    req.set("X-Sig", "ok");
    req.body() = (i == 7 ? "0" : std::to_string(w.sent)) + " delivered";
    req.prepare_payload();
    answers.push_back(asio::co_spawn(io, h(std::move(req)), asio::use_future));
  }
  io.run();
  int ok = 0, unavailable = 0;
  for (auto& a : answers) {
    auto status = a.get().result_int();
    ok += status == 200;
    unavailable += status == 503;
  }
  CHECK(ok == 19);
  CHECK(unavailable == 1);
  CHECK(h.stats().store_failures == 1);
  // The first webhook went alone; the 19 that queued behind it went in one more job.
  CHECK(w.store->statistics().jobs - jobs_before == 2);
  CHECK(state_of(*w.reader(), w.sent) == message_state::delivered);
  // One receipt row for the message (the 18 repeats are duplicates), none for the failed one.
  CHECK(h.stats().receipts == 19);
  CHECK(h.stats().duplicate_receipts == 18);
}
