// Faults that must not wedge a lane (issue 17, item 5). Each injects one fault (a store that
// refuses a write, a codec that throws, a slow heartbeat) and asserts what an operator notices:
// the lane keeps sending, every message ends in a recorded state or back in the queue, and the
// engine stops promptly.
//
// Store faults are SQLite triggers that refuse one recipient's writes (RAISE(ABORT)), so the
// store's own failure path runs, as a full disk or a locked file would take it.

#include <doctest/doctest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <filesystem>
#include <functional>
#include <map>
#include <span>
#include <thread>

#include "engine/dispatch/dispatcher.hpp"
#include "engine/store/sqlite/sqlite_store.hpp"
#include "tests/engine/dispatch/dispatcher_harness.hpp"

using namespace pigeon::engine;
using namespace pigeon::engine::dispatch;
using namespace pigeon::engine::sqlite;
namespace asio = boost::asio;
using namespace std::chrono_literals;
using pigeon::engine::testing::sql_text;

namespace {

const time_point start = *parse_iso("2026-11-11T02:00:00Z");

std::string phone(int i) { return "+86139" + std::to_string(10000000 + i); }

// Accepts every request after 1 ms ("ok <to>" per recipient) and records its recipients.
class fake_carrier final : public http_client {
 public:
  asio::any_io_executor executor;
  std::vector<std::string> requests;                   // recipients of each request, ','-joined
  std::function<void(const std::string&)> on_request;  // called with them, before answering

 private:
  void perform_impl(http_request req,
                    asio::any_completion_handler<void(boost::system::error_code, http_response)>
                        handler) override {
    auto to = req.url.substr(req.url.find("to=") + 3);
    requests.push_back(to);
    if (on_request) on_request(to);
    http_response resp{201, {}, {}};
    for (std::size_t at = 0; at <= to.size();) {
      auto end = std::min(to.find(',', at), to.size());
      resp.body += "ok " + to.substr(at, end - at) + "\n";
      at = end + 1;
    }
    auto timer = std::make_shared<asio::steady_timer>(executor, 1ms);
    timer->async_wait([timer, h = std::move(handler), resp](auto) mutable {
      std::move(h)(boost::system::error_code{}, resp);
    });
  }
};

// One message per request, or up to `batch` (numbers ','-joined in the URL); build_submit
// throws for `throw_for`; the first `unreadable` replies naming `unreadable_for` throw when
// parsed (a codec bug: a codec MUST classify every reply).
class fault_codec final : public carrier_codec {
 public:
  std::string throw_for;
  std::size_t batch = 1;
  std::string unreadable_for;
  mutable int unreadable = 0;

  std::string_view kind() const override { return "test"; }
  http_request build_submit(const outbound_message& m) const override {
    if (m.to == throw_for) throw std::runtime_error("cannot encode " + m.to);
    return {"POST", "http://c/send?to=" + m.to, {}, m.text};
  }
  submit_verdict parse_submit_reply(const http_response& r) const override {
    read(r);
    return accepted{r.body};
  }
  std::size_t max_batch() const override { return batch; }
  http_request build_submit_batch(std::span<const outbound_message> ms) const override {
    http_request r{"POST", "http://c/send?to=", {}, {}};
    for (const auto& m : ms) r.url += (&m == &ms.front() ? "" : ",") + m.to;
    return r;
  }
  std::vector<submit_verdict> parse_submit_batch_reply(const http_response& r,
                                                       std::size_t count) const override {
    read(r);
    return std::vector<submit_verdict>(count, accepted{r.body});
  }

 private:
  void read(const http_response& r) const {
    if (unreadable > 0 && !unreadable_for.empty() &&
        r.body.find(unreadable_for) != std::string::npos) {
      --unreadable;
      throw std::runtime_error("unexpected token in reply");
    }
  }
};

struct planned {
  std::chrono::minutes due{0};                    // after start
  std::optional<std::chrono::minutes> expires{};  // after start
};

struct fixture {
  std::filesystem::path dir, db;
  std::unique_ptr<async_store> queue;
  simulated_clock clk{start};

  // Message i goes to phone(i); `window` ("HH:MM-HH:MM", recipient time) or all day.
  explicit fixture(std::vector<planned> messages, std::string window = {}) {
    static int counter = 0;
    dir = std::filesystem::temp_directory_path() /
          ("pigeon-faults-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(dir);
    db = dir / "t.db";
    auto s = sqlite_store::open(db.string());
    auto ids = testing::add_contacts(*s, static_cast<int>(messages.size()));
    testing::add_promo_campaign(
        *s, {{"s0", "A", 100, "sms", "hello", {}, {}, !window.empty(), {}, window}});
    std::vector<new_message> ms;
    for (std::size_t i = 0; i < messages.size(); ++i) {
      std::optional<time_point> expires;
      if (messages[i].expires) expires = start + *messages[i].expires;
      ms.push_back({"promo", "s0", "A", ids[i], start + messages[i].due, expires});
    }
    s->enqueue(ms);
    queue = std::make_unique<async_store>(std::move(s));
  }
  ~fixture() {
    queue.reset();
    std::filesystem::remove_all(dir);
  }

  // The store refuses to move phone(i)'s message to `state` (a trigger, as a full disk would).
  void refuse(int i, const std::string& state, const std::string& name = "refuse") {
    sql_text(db, "CREATE TRIGGER " + name +
                     " BEFORE UPDATE OF state ON messages WHEN NEW.state = '" + state +
                     "' AND NEW.contact_id = (SELECT id FROM contacts WHERE phone = '" + phone(i) +
                     "') BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
  }

  // Runs to idle (bounded by `bound`); `prepare` runs once the dispatcher is made.
  dispatcher_stats run(fake_carrier& http, std::shared_ptr<fault_codec> codec, int concurrency,
                       dispatcher_options opts, std::function<void(dispatcher&)> prepare = {},
                       std::vector<lane_snapshot>* snapshots = nullptr) {
    asio::io_context ioc;
    std::vector<lane_config> lanes{{"c", std::move(codec), 0, concurrency, 0}};
    std::map<std::string, sender_profile> senders{{"shop", {"", "", 1, false, {"c"}}}};
    opts.owner = "test";
    opts.until_idle = true;
    opts.jitter_seed = 7;
    http.executor = ioc.get_executor();
    dispatcher d(ioc.get_executor(), *queue, http, clk, lanes, senders, opts);
    if (prepare) prepare(d);
    testing::run_to_idle(ioc, d, 20s);
    if (snapshots) *snapshots = d.lanes();
    return d.stats();
  }

  message_row row(int i) {
    for (auto& r : testing::all_rows(*queue))
      if (r.phone == phone(i)) return r;
    FAIL("no message to " << phone(i));
    return {};
  }
};

// Opens the lane's circuit now; with cool_down 0 it is half-open at once: the next message
// takes its one trial permit.
void open_circuit(dispatcher& d) {
  d.lane_for_test("c").breaker().record(true, false, std::chrono::steady_clock::now());
}

dispatcher_options half_open_options() {
  dispatcher_options opts;
  opts.breaker.min_attempts = 1;
  opts.breaker.cool_down = 0ms;
  opts.breaker.half_open_trials = 1;
  return opts;
}

}  // namespace

TEST_CASE("a half-open lane whose trial message cannot be marked submitting gives the trial back") {
  // Message 0 takes the trial and the store refuses its intent; message 1 must still get a
  // trial and go out, not be refused by a circuit that waits forever for a lost trial.
  fixture f({{0min, 10min}, {0min, 10min}});
  f.refuse(0, "submitting");
  fake_carrier http;
  std::vector<lane_snapshot> snaps;
  f.run(http, std::make_shared<fault_codec>(), 1, half_open_options(), open_circuit, &snaps);
  CHECK(http.requests == std::vector<std::string>{phone(1)});
  CHECK(f.row(1).state == message_state::submitted);
  // Message 0 was never sent and is not lost: back in the queue, or expired with its reason.
  auto r0 = f.row(0);
  CHECK(r0.attempts == 0);
  CHECK((r0.state == message_state::scheduled || r0.state == message_state::expired));
  REQUIRE(snaps.size() == 1);
  CHECK(snaps[0].circuit == circuit_state::closed);  // message 1's trial closed it
}

TEST_CASE("a half-open lane whose trial request cannot be built fails that message and sends on") {
  fixture f({{0min, 10min}, {0min, 10min}});
  auto codec = std::make_shared<fault_codec>();
  codec->throw_for = phone(0);
  fake_carrier http;
  std::vector<lane_snapshot> snaps;
  f.run(http, codec, 1, half_open_options(), open_circuit, &snaps);
  CHECK(http.requests == std::vector<std::string>{phone(1)});
  CHECK(f.row(1).state == message_state::submitted);
  // Nothing left: the message that could not be encoded fails with the codec's reason (it is
  // not left `submitting`, to be resent as an unknown outcome at the next start).
  auto r0 = f.row(0);
  CHECK(r0.state == message_state::failed);
  CHECK(r0.reason.find("cannot encode " + phone(0)) != std::string::npos);
  REQUIRE(snaps.size() == 1);
  CHECK(snaps[0].circuit == circuit_state::closed);
}

TEST_CASE("a batch lane whose intents cannot be stored finishes those messages and keeps pumping") {
  // Message 0 is due alone and its batch's intent is refused; the lane has one pump, so if the
  // failure ended it without a trace, the messages due a minute later would wait forever.
  fixture f({{0min, 3min}, {1min}, {1min}, {1min}, {1min}});
  f.refuse(0, "submitting");
  auto codec = std::make_shared<fault_codec>();
  codec->batch = 10;
  fake_carrier http;
  auto stats = f.run(http, codec, 1, {});
  CHECK(stats.submitted == 4);
  for (int i = 1; i <= 4; ++i) CHECK(f.row(i).state == message_state::submitted);
  for (const auto& to : http.requests) CHECK(to.find(phone(0)) == std::string::npos);
  auto r0 = f.row(0);  // never sent, and back in the queue (released at stop)
  CHECK(r0.attempts == 0);
  CHECK((r0.state == message_state::scheduled || r0.state == message_state::expired));
}

TEST_CASE(
    "a batch lane whose outcomes cannot be stored finishes those messages and keeps pumping") {
  fixture f({{0min}, {1min}, {1min}, {1min}});
  f.refuse(0, "submitted");  // for good: the retries give up
  auto codec = std::make_shared<fault_codec>();
  codec->batch = 10;
  fake_carrier http;
  dispatcher_options opts;
  opts.outcome_retry_base = 5ms;
  opts.outcome_retry_max = 20ms;
  opts.outcome_retry_for = 200ms;
  f.run(http, codec, 1, opts);
  for (int i = 1; i <= 3; ++i) CHECK(f.row(i).state == message_state::submitted);
  // Each sent once: message 0 is never resent while its outcome is unknown.
  std::map<std::string, int> sends;
  for (const auto& to : http.requests)
    for (std::size_t at = 0; at <= to.size();) {
      auto end = std::min(to.find(',', at), to.size());
      ++sends[to.substr(at, end - at)];
      at = end + 1;
    }
  CHECK(sends ==
        std::map<std::string, int>{{phone(0), 1}, {phone(1), 1}, {phone(2), 1}, {phone(3), 1}});
  auto r0 = f.row(0);
  CHECK(r0.state == message_state::submitting);  // reconciled at the next start
  CHECK(r0.attempts == 1);
}

TEST_CASE("a reply the codec cannot read is retried like a timeout, not left submitting") {
  fixture f({{0min}, {0min}});
  auto codec = std::make_shared<fault_codec>();
  codec->unreadable_for = phone(0);
  codec->unreadable = 1;
  fake_carrier http;
  auto stats = f.run(http, codec, 1, {});
  CHECK(stats.submitted == 2);
  auto r0 = f.row(0);
  CHECK(r0.state == message_state::submitted);
  CHECK(r0.attempts == 2);  // both attempts in the ledger: a duplicate is traceable
  CHECK(f.row(1).attempts == 1);
  CHECK(std::count(http.requests.begin(), http.requests.end(), phone(0)) == 2);
}

TEST_CASE("a batch reply the codec cannot read retries the batch's messages and pumps on") {
  fixture f({{0min}, {0min}, {0min}, {1min}});
  auto codec = std::make_shared<fault_codec>();
  codec->batch = 10;
  codec->unreadable_for = phone(0);
  codec->unreadable = 1;
  fake_carrier http;
  auto stats = f.run(http, codec, 1, {});
  CHECK(stats.submitted == 4);
  // Every message of the request whose reply could not be read was sent once more; the others
  // once.
  REQUIRE(!http.requests.empty());
  const auto& unread = http.requests.front();
  CHECK(unread.find(phone(0)) != std::string::npos);
  for (int i = 0; i < 4; ++i) {
    CHECK(f.row(i).state == message_state::submitted);
    CHECK(f.row(i).attempts == (unread.find(phone(i)) != std::string::npos ? 2 : 1));
  }
}

TEST_CASE("an outcome the store refused for a while is recorded once the store takes it") {
  fixture f({{0min}, {0min}});
  f.refuse(0, "submitted");
  fake_carrier http;
  dispatcher_options opts;
  opts.outcome_retry_base = 10ms;
  opts.outcome_retry_max = 50ms;
  opts.outcome_retry_for = 10s;
  std::string detail_while_refused;
  auto heal_later = [&](dispatcher& d) {
    http.on_request = [&, d = &d](const std::string& to) {
      if (to != phone(0)) return;
      // 300 ms later, note what status shows, then let the store take the outcome.
      auto timer = std::make_shared<asio::steady_timer>(http.executor, 300ms);
      timer->async_wait([&, d, timer](auto) {
        detail_while_refused = d->heartbeat_detail();
        sql_text(f.db, "DROP TRIGGER refuse");
      });
    };
  };
  f.run(http, std::make_shared<fault_codec>(), 2, opts, heal_later);
  CHECK(http.requests.size() == 2);  // each once
  auto r0 = f.row(0);
  CHECK(r0.state == message_state::submitted);
  CHECK(r0.attempts == 1);
  CHECK(f.row(1).state == message_state::submitted);
  // Meanwhile status showed the message whose outcome was not recorded, and why.
  CHECK(detail_while_refused.find("\"outcomes_unrecorded\"") != std::string::npos);
  CHECK(detail_while_refused.find("injected failure") != std::string::npos);
}

namespace {
// test_sleep(ms) in every SQLite connection opened while registered: lets a trigger make one
// store write slow.
void sleep_ms(sqlite3_context* ctx, int, sqlite3_value** argv) {
  std::this_thread::sleep_for(std::chrono::milliseconds(sqlite3_value_int(argv[0])));
  sqlite3_result_null(ctx);
}
int register_sleep(sqlite3* conn, const char**, const void*) {
  return sqlite3_create_function(conn, "test_sleep", 1, SQLITE_UTF8, nullptr, sleep_ms, nullptr,
                                 nullptr);
}
}  // namespace

TEST_CASE("stop does not wait for a heartbeat that was being stored when it came") {
  auto init = reinterpret_cast<void (*)()>(&register_sleep);
  sqlite3_auto_extension(init);
  struct unregister {
    void (*f)();
    ~unregister() { sqlite3_cancel_auto_extension(f); }
  } guard{init};
  fixture f({});
  // The second heartbeat (at 2 s) takes 2 s to store; stop comes at 3 s, in the middle of it.
  sql_text(f.db, "CREATE TABLE beats (n INTEGER)");
  for (const char* event : {"INSERT", "UPDATE"})
    sql_text(f.db, std::string("CREATE TRIGGER slow_") + event + " AFTER " + event +
                       " ON engine_heartbeat BEGIN INSERT INTO beats VALUES (1); SELECT "
                       "test_sleep(CASE WHEN (SELECT count(*) FROM beats) = 2 THEN 2000 ELSE 0 "
                       "END); END");
  fake_carrier http;
  system_clock clk;
  asio::io_context ioc;
  std::vector<lane_config> lanes{{"c", std::make_shared<fault_codec>(), 0, 1, 0}};
  std::map<std::string, sender_profile> senders{{"shop", {"", "", 1, false, {"c"}}}};
  dispatcher_options opts;
  opts.owner = "test";
  opts.heartbeat = 2s;
  opts.idle_poll = 10s;
  http.executor = ioc.get_executor();
  dispatcher d(ioc.get_executor(), *f.queue, http, clk, lanes, senders, opts);
  bool done = false;
  asio::co_spawn(ioc, d.run(), [&](std::exception_ptr e) {
    done = true;
    if (e) std::rethrow_exception(e);
  });
  std::chrono::steady_clock::time_point stopped_at;
  asio::steady_timer stop_timer(ioc, 3s);
  stop_timer.async_wait([&](auto) {
    stopped_at = std::chrono::steady_clock::now();
    d.stop();
  });
  ioc.run_for(20s);
  const auto took = std::chrono::steady_clock::now() - stopped_at;
  REQUIRE(done);
  CHECK(sql_text(f.db, "SELECT count(*) FROM beats") != "1");  // the slow beat did happen
  // The beat in flight ends about 1 s after stop; a re-armed heartbeat would add its 2 s.
  CHECK(took < 1800ms);
}

TEST_CASE("a message with an id past 2^32 deferred to its window is spread without overflow") {
  // Window 03:00-04:00 in the recipient's time: at 02:00 UTC the message is deferred to an
  // opening and spread over the first window_spread by its id. Under UBSan (the asan preset)
  // a signed overflow in that hash stops the test.
  fixture f({{0min}}, "03:00-04:00");
  const std::int64_t id = 5'000'000'000'000;
  sql_text(f.db, "UPDATE messages SET id = " + std::to_string(id));
  fake_carrier http;
  auto stats = f.run(http, std::make_shared<fault_codec>(), 1, {});
  CHECK(stats.deferred == 1);
  auto r = f.row(0);
  REQUIRE(r.id == id);
  CHECK(r.state == message_state::submitted);
  REQUIRE(r.sent_at);
  // Sent at the window's opening (a whole hour) plus the id's share of the 300 s spread (and
  // the few real milliseconds the simulated clock runs on between its jump and the send).
  const auto into_hour = std::chrono::duration_cast<std::chrono::milliseconds>(
      r.sent_at->time_since_epoch() % std::chrono::hours(1));
  const auto expected =
      static_cast<std::int64_t>((static_cast<std::uint64_t>(id) * 2654435761u) % 300'000u);
  CHECK(into_hour.count() >= expected);
  CHECK(into_hour.count() < expected + 2000);
}
