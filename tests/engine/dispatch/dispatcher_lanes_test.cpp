// Lanes seen through the dispatcher: failover, retries until expiry, per-recipient order and a
// 429 pausing the whole lane. The carriers are scripted fakes keyed by host.

#include <doctest/doctest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <span>

#include "engine/dispatch/dispatcher.hpp"
#include "engine/store/sqlite/sqlite_store.hpp"
#include "tests/engine/dispatch/dispatcher_harness.hpp"

using namespace pigeon::engine;
using namespace pigeon::engine::dispatch;
using namespace pigeon::engine::sqlite;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// Per-host scripted carriers: each host answers with the next response of its script (the last
// repeats), after `delay`. Records requests with their arrival time and the peak concurrency.
class carriers final : public http_client {
 public:
  struct request_record {
    std::string host, to, body;
    std::chrono::steady_clock::time_point at;
  };
  std::map<std::string, std::vector<http_response>> scripts;
  std::function<http_response(const http_request&)> responder;  // when set, answers everything
  int time_out_first = 0;  // the first n requests end in http_errc::timed_out
  std::chrono::milliseconds delay{0};
  std::vector<request_record> requests;
  std::map<std::string, int> open_per_recipient;
  int peak_per_recipient = 0;
  int open = 0, peak = 0;
  asio::any_io_executor executor;

 private:
  void perform_impl(http_request req,
                    asio::any_completion_handler<void(boost::system::error_code, http_response)>
                        handler) override {
    auto host = req.url.substr(7, req.url.find('/', 7) - 7);
    auto to = req.url.substr(req.url.find("to=") + 3);
    http_response resp;
    if (responder) {
      resp = responder(req);
    } else {
      auto& script = scripts.at(host);
      std::size_t n = 0;
      for (const auto& r : requests) n += r.host == host;
      resp = script[std::min(n, script.size() - 1)];
    }
    requests.push_back({host, to, req.body, std::chrono::steady_clock::now()});
    peak = std::max(peak, ++open);
    peak_per_recipient = std::max(peak_per_recipient, ++open_per_recipient[to]);
    boost::system::error_code ec;
    if (static_cast<int>(requests.size()) <= time_out_first) {
      ec = make_error_code(http_errc::timed_out);
      resp = {};
    }
    auto timer = std::make_shared<asio::steady_timer>(executor, delay);
    timer->async_wait([this, timer, to, h = std::move(handler), resp, ec](auto) mutable {
      --open;
      --open_per_recipient[to];
      std::move(h)(ec, resp);
    });
  }
};

// 201 accepts, 429 throttles (Retry-After in seconds), 5xx is a transient carrier fault.
class test_codec final : public carrier_codec {
 public:
  explicit test_codec(std::string host) : host_(std::move(host)) {}
  std::string_view kind() const override { return "test"; }
  http_request build_submit(const outbound_message& m) const override {
    return {"POST", "http://" + host_ + "/send?to=" + m.to, {}, m.text};
  }
  submit_verdict parse_submit_reply(const http_response& r) const override {
    if (r.status == 201) return accepted{r.body};
    if (r.status == 429) {
      auto after = r.header("Retry-After");
      return retry_later{std::chrono::seconds(after.empty() ? 1 : std::stoi(std::string(after))),
                         "429", "slow down"};
    }
    return retry_later{0ms, std::to_string(r.status), r.body};
  }

 private:
  std::string host_;
};

// A batch dialect: numbers joined by ',' in the URL and texts by '\n' in the body; the reply
// has one line per message, "ok <id>" or "bad <code>".
class batch_codec final : public carrier_codec {
 public:
  std::string_view kind() const override { return "test-batch"; }
  http_request build_submit(const outbound_message& m) const override {
    return build_submit_batch(std::span(&m, 1));
  }
  std::size_t max_batch() const override { return 10; }
  http_request build_submit_batch(std::span<const outbound_message> ms) const override {
    http_request r{"POST", "http://batch/send?to=", {}, {}};
    for (const auto& m : ms) {
      r.url += (&m == &ms.front() ? "" : ",") + m.to;
      r.body += m.text + "\n";
    }
    return r;
  }
  submit_verdict parse_submit_reply(const http_response& r) const override {
    return parse_submit_batch_reply(r, 1).front();
  }
  std::vector<submit_verdict> parse_submit_batch_reply(const http_response& r,
                                                       std::size_t count) const override {
    std::vector<submit_verdict> out;
    std::size_t at = 0;
    while (at < r.body.size()) {
      auto end = r.body.find('\n', at);
      auto line = r.body.substr(at, end - at);
      at = end == std::string::npos ? r.body.size() : end + 1;
      if (line.starts_with("ok "))
        out.push_back(accepted{line.substr(3)});
      else
        out.push_back(rejected{line.substr(4), "refused"});
    }
    if (out.size() != count) return std::vector<submit_verdict>(count, retry_later{});
    return out;
  }
};

struct fixture {
  std::filesystem::path dir;
  std::unique_ptr<async_store> queue;

  // `steps` messages per contact (steps "s0", "s1", ... all due now, in that order).
  fixture(int contacts, int steps, time_point now, std::optional<time_point> expires,
          std::map<int, std::string> windows = {}) {
    dir = std::filesystem::temp_directory_path() /
          ("pigeon-lanes-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    std::filesystem::create_directories(dir);
    auto db = sqlite_store::open((dir / "t.db").string());
    std::vector<contact> cs;
    for (int i = 0; i < contacts; ++i) {
      contact c;
      c.phone = "+86139" + std::to_string(10000000 + i);
      cs.push_back(c);
    }
    auto ids = db->upsert_contacts(cs);
    stored_campaign camp;
    camp.name = "promo";
    camp.sender = "shop";
    camp.category = "transactional";
    camp.content_hash = "h1";
    for (int s = 0; s < steps; ++s) {
      campaign_template t{"s" + std::to_string(s),
                          "A",
                          100,
                          "sms",
                          "step " + std::to_string(s),
                          {},
                          {},
                          false,
                          {},
                          {}};
      if (windows.count(s)) {
        t.has_window = true;
        t.window_between = windows[s];
      }
      camp.templates.push_back(t);
    }
    db->save_campaign(camp);
    std::vector<new_message> ms;
    for (int s = 0; s < steps; ++s)
      for (auto id : ids) ms.push_back({"promo", "s" + std::to_string(s), "A", id, now, expires});
    db->enqueue(ms);
    queue = std::make_unique<async_store>(std::move(db));
  }
  ~fixture() {
    queue.reset();
    std::filesystem::remove_all(dir);
  }
  static int& counter() {
    static int n = 0;
    return n;
  }

  dispatcher_stats run(carriers& http, pigeon::engine::clock& clk, std::vector<lane_config> lanes,
                       std::vector<std::string> route, dispatcher_options opts,
                       std::vector<lane_snapshot>* snapshots = nullptr) {
    asio::io_context ioc;
    std::map<std::string, sender_profile> senders{{"shop", {"", "", 1, false, route}}};
    opts.owner = "test";
    opts.until_idle = true;
    opts.jitter_seed = 7;
    http.executor = ioc.get_executor();
    dispatcher d(ioc.get_executor(), *queue, http, clk, lanes, senders, opts);
    testing::run_to_idle(ioc, d);
    if (snapshots) *snapshots = d.lanes();
    return d.stats();
  }

  std::vector<message_row> rows() { return testing::all_rows(*queue); }
};

lane_config make_lane(const std::string& name, double rate, int concurrency) {
  return {name, std::make_shared<test_codec>(name), rate, concurrency, 0};
}

const time_point start = *parse_iso("2026-11-11T02:00:00Z");

}  // namespace

TEST_CASE("a provider that keeps failing opens its circuit and messages fail over to the next") {
  simulated_clock clk(start);
  fixture f(30, 1, clk.now(), clk.now() + 24h);
  carriers http;
  http.scripts["down"] = {{503, {}, "down"}};
  http.scripts["backup"] = {{201, {}, "B"}};
  dispatcher_options opts;
  opts.breaker.min_attempts = 5;
  opts.breaker.cool_down = 1h;
  std::vector<lane_snapshot> snaps;
  auto stats = f.run(http, clk, {make_lane("down", 0, 2), make_lane("backup", 0, 2)},
                     {"down", "backup"}, opts, &snaps);
  CHECK(stats.submitted == 30);
  // Every recipient got exactly one accepted submission, all through the backup.
  std::map<std::string, int> accepted_per_recipient;
  int to_down = 0;
  for (const auto& r : http.requests) {
    if (r.host == "backup") ++accepted_per_recipient[r.to];
    to_down += r.host == "down";
  }
  CHECK(accepted_per_recipient.size() == 30);
  for (const auto& [to, n] : accepted_per_recipient) CHECK(n == 1);
  // The breaker stopped the traffic to the failing provider after its verdict (plus what was
  // already in flight), not after every message tried it.
  CHECK(to_down >= 5);
  CHECK(to_down <= 5 + 2);
  // The ledger traces every attempt.
  int attempts = 0;
  for (const auto& row : f.rows()) {
    CHECK(row.state == message_state::submitted);
    CHECK(row.provider == "backup");
    attempts += row.attempts;
  }
  CHECK(attempts == static_cast<int>(http.requests.size()));
  REQUIRE(snaps.size() == 2);
  CHECK(snaps[1].name == "down");
  CHECK(snaps[1].circuit == circuit_state::open);
  CHECK(snaps[1].retried == to_down);
  CHECK(snaps[0].circuit == circuit_state::closed);
  CHECK(snaps[0].submitted == 30);
}

TEST_CASE("a message whose carrier keeps failing is retried until its expiry, then expires") {
  simulated_clock clk(start);
  fixture f(1, 1, clk.now(), clk.now() + 1h);
  carriers http;
  http.scripts["flaky"] = {{503, {}, "down"}};
  dispatcher_options opts;
  opts.max_attempts = 3;  // applies to messages without an expiry only
  auto stats = f.run(http, clk, {make_lane("flaky", 0, 1)}, {"flaky"}, opts);
  CHECK(stats.expired == 1);
  auto rows = f.rows();
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].state == message_state::expired);
  CHECK(rows[0].attempts > 3);
  CHECK(rows[0].attempts == static_cast<int>(http.requests.size()));
  CHECK(rows[0].reason.find("validity ends") != std::string::npos);
  CHECK(rows[0].reason.find("carrier 503") != std::string::npos);
}

TEST_CASE("a 5xx burst is retried and delivered after recovery without a retry storm") {
  simulated_clock clk(start);
  fixture f(10, 1, clk.now(), clk.now() + 24h);
  carriers http;
  // The first 10 requests fail, then the carrier recovers.
  http.scripts["c"] = std::vector<http_response>(10, {503, {}, "busy"});
  http.scripts["c"].push_back({201, {}, "OK"});
  dispatcher_options opts;
  opts.breaker.min_attempts = 1000;  // this test is about retries, not the breaker
  auto stats = f.run(http, clk, {make_lane("c", 0, 4)}, {"c"}, opts);
  CHECK(stats.submitted == 10);
  CHECK(stats.retried == 10);
  // Each failed message tried once more, not repeatedly: 10 failures + 10 successes.
  CHECK(http.requests.size() == 20);
  for (const auto& row : f.rows()) CHECK(row.state == message_state::submitted);
}

TEST_CASE("a recipient's later message never overtakes the earlier one") {
  simulated_clock clk(start);
  fixture f(3, 3, clk.now(), std::nullopt);
  carriers http;
  http.scripts["c"] = {{201, {}, "OK"}};
  http.delay = 20ms;
  auto stats = f.run(http, clk, {make_lane("c", 0, 8)}, {"c"}, {});
  CHECK(stats.submitted == 9);
  CHECK(http.peak_per_recipient == 1);  // one message per recipient at a time...
  CHECK(http.peak >= 2);                // ...while recipients go in parallel
  std::map<std::string, std::vector<std::string>> order;
  for (const auto& r : http.requests) order[r.to].push_back(r.body);
  CHECK(order.size() == 3);
  for (const auto& [to, bodies] : order)
    CHECK(bodies == std::vector<std::string>{"step 0", "step 1", "step 2"});
}

TEST_CASE("a 429 pauses the whole lane for its Retry-After, and the message goes later") {
  system_clock clk;
  fixture f(4, 1, clk.now(), clk.now() + 1h);
  carriers http;
  http.scripts["c"] = {{429, {{"Retry-After", "1"}}, ""}, {201, {}, "OK"}};
  dispatcher_options opts;
  opts.backoff_base = 100ms;
  auto stats = f.run(http, clk, {make_lane("c", 0, 1)}, {"c"}, opts);
  CHECK(stats.submitted == 4);
  CHECK(stats.retried == 1);
  REQUIRE(http.requests.size() == 5);
  // Nothing went to the lane within the Retry-After of the 429 (the next request of other
  // messages waited, not just the throttled one).
  CHECK(http.requests[1].at - http.requests[0].at >= 950ms);
  for (const auto& row : f.rows()) CHECK(row.state == message_state::submitted);
}

TEST_CASE("a batch lane sends many messages per request with one verdict each") {
  simulated_clock clk(start);
  fixture f(25, 1, clk.now(), std::nullopt);
  carriers http;
  http.delay = 20ms;
  std::vector<std::size_t> sizes;
  http.responder = [&](const http_request& req) {
    http_response resp{200, {}, {}};
    auto list = req.url.substr(req.url.find("to=") + 3);
    std::size_t n = 0, at = 0;
    while (at <= list.size()) {
      auto end = std::min(list.find(',', at), list.size());
      auto to = list.substr(at, end - at);
      resp.body += (to.back() == '7' ? "bad 21211" : "ok id-" + to) + "\n";
      ++n;
      at = end + 1;
    }
    sizes.push_back(n);
    return resp;
  };
  lane_config batch{"batch", std::make_shared<batch_codec>(), 0, 2, 0};
  auto stats = f.run(http, clk, {batch}, {"batch"}, {});
  CHECK(stats.submitted + stats.failed == 25);
  CHECK(stats.failed == 2);          // the numbers ending in 7: ...07 and ...17
  CHECK(http.requests.size() < 25);  // batched
  std::size_t total = 0;
  for (auto n : sizes) {
    CHECK(n <= 10);
    total += n;
  }
  CHECK(total == 25);  // each message in exactly one request
  for (const auto& row : f.rows()) {
    CHECK(row.attempts == 1);
    if (row.phone.back() == '7') {
      CHECK(row.state == message_state::failed);
      CHECK(row.reason == "rejected 21211: refused");
    } else {
      CHECK(row.state == message_state::submitted);
      CHECK(row.carrier_id == "id-" + row.phone);
    }
  }
}

TEST_CASE("a timed-out request is retried and the ledger keeps both attempts") {
  simulated_clock clk(start);
  fixture f(3, 1, clk.now(), clk.now() + 1h);
  carriers http;
  http.scripts["c"] = {{201, {}, "OK"}};
  http.time_out_first = 3;
  auto stats = f.run(http, clk, {make_lane("c", 0, 4)}, {"c"}, {});
  CHECK(stats.retried == 3);
  CHECK(stats.submitted == 3);
  CHECK(http.requests.size() == 6);
  for (const auto& row : f.rows()) {
    CHECK(row.state == message_state::submitted);
    CHECK(row.attempts == 2);  // the timed-out one may have arrived: it is in the ledger
  }
}

TEST_CASE("a recipient's message deferred before its turn does not let a later one overtake") {
  simulated_clock clk(start);  // 02:00 UTC
  // Step 2's window opens at 03:00: it is deferred at once, while step 0 is being sent and
  // step 1 waits for its turn.
  fixture f(1, 4, clk.now(), std::nullopt, {{2, "03:00-04:00"}});
  carriers http;
  http.scripts["c"] = {{201, {}, "OK"}};
  http.delay = 20ms;
  auto stats = f.run(http, clk, {make_lane("c", 0, 8)}, {"c"}, {});
  CHECK(stats.deferred == 1);
  CHECK(stats.submitted == 4);
  CHECK(http.peak_per_recipient == 1);
  REQUIRE(http.requests.size() == 4);
  CHECK(http.requests[0].body == "step 0");
  CHECK(http.requests[1].body == "step 1");
  CHECK(http.requests[2].body == "step 3");
  CHECK(http.requests[3].body == "step 2");  // at its window
}
