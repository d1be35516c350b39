// Group commit in the dispatcher (dispatcher_commit.cpp): many messages' intents and outcomes
// share one store job, yet no request leaves before its own message is durably `submitting`,
// and a failed flush sends nothing of its group.

#include <doctest/doctest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <filesystem>

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

// Accepts every request after `delay`; before answering, asks the database file (a separate
// connection) in which committed state the request's message is.
class checking_carrier final : public http_client {
 public:
  std::filesystem::path db;
  asio::any_io_executor executor;
  std::vector<std::string> states_seen;  // committed state of each request's message
  int requests = 0;

 private:
  void perform_impl(http_request req,
                    asio::any_completion_handler<void(boost::system::error_code, http_response)>
                        handler) override {
    ++requests;
    auto to = req.url.substr(req.url.find("to=") + 3);
    states_seen.push_back(sql_text(db,
                                   "SELECT m.state FROM messages m JOIN contacts k ON "
                                   "k.id = m.contact_id WHERE k.phone = '" +
                                       to + "'"));
    auto timer = std::make_shared<asio::steady_timer>(executor, 2ms);
    timer->async_wait([timer, h = std::move(handler)](auto) mutable {
      std::move(h)(boost::system::error_code{}, http_response{201, {}, "OK"});
    });
  }
};

struct fixture {
  std::filesystem::path dir, db;
  std::unique_ptr<async_store> queue;
  simulated_clock clk{*parse_iso("2026-11-11T02:00:00Z")};

  explicit fixture(int contacts) {
    static int counter = 0;
    dir = std::filesystem::temp_directory_path() /
          ("pigeon-commit-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(dir);
    db = dir / "t.db";
    auto s = sqlite_store::open(db.string());
    auto ids = testing::add_contacts(*s, contacts);
    testing::add_promo_campaign(*s, {{"hello", "A", 100, "sms", "Hello", {}, {}, false, {}, {}}});
    std::vector<new_message> ms;
    for (auto id : ids) ms.push_back({"promo", "hello", "A", id, clk.now(), std::nullopt});
    s->enqueue(ms);
    queue = std::make_unique<async_store>(std::move(s));
  }
  ~fixture() {
    queue.reset();
    std::filesystem::remove_all(dir);
  }

  dispatcher_stats run(checking_carrier& http, int concurrency) {
    asio::io_context ioc;
    std::vector<lane_config> lanes{
        {"main", std::make_shared<testing::accepting_codec>(), 0, concurrency}};
    std::map<std::string, sender_profile> senders{{"shop", {"", "", 1, false, {"main"}}}};
    dispatcher_options opts;
    opts.owner = "test";
    opts.until_idle = true;
    opts.outcome_retry_for = 200ms;  // a refused outcome is stored again for this long
    http.executor = ioc.get_executor();
    http.db = db;
    dispatcher d(ioc.get_executor(), *queue, http, clk, lanes, senders, opts);
    testing::run_to_idle(ioc, d);
    return d.stats();
  }

  std::vector<message_row> rows() { return testing::all_rows(*queue); }
};

}  // namespace

TEST_CASE("many messages share each store commit, and none is sent before it is submitting") {
  fixture f(60);
  checking_carrier http;
  auto stats = f.run(http, 8);
  CHECK(stats.submitted == 60);
  REQUIRE(http.requests == 60);
  for (const auto& state : http.states_seen) CHECK(state == "submitting");
  // Grouped: the eight messages that take the lane's slots at once share the first flush, so
  // there are fewer intent flushes than messages (one store job each, before grouping).
  CHECK(stats.intent_flushes > 0);
  CHECK(stats.intent_flushes <= 60 - 7);
  CHECK(stats.outcome_flushes > 0);
  CHECK(stats.outcome_flushes <= 60);
  for (const auto& row : f.rows()) {
    CHECK(row.state == message_state::submitted);
    CHECK(row.attempts == 1);
  }
}

TEST_CASE(
    "when the intents cannot be stored, their messages are not sent and go back to the queue") {
  fixture f(20);
  // The database refuses every `submitting` update (as a full disk would).
  sql_text(f.db,
           "CREATE TRIGGER refuse BEFORE UPDATE OF state ON messages "
           "WHEN NEW.state = 'submitting' BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
  checking_carrier http;
  auto stats = f.run(http, 4);
  CHECK(http.requests == 0);
  CHECK(stats.submitted == 0);
  for (const auto& row : f.rows()) {
    CHECK(row.state == message_state::scheduled);  // released at stop, claimable again
    CHECK(row.attempts == 0);
  }
}

TEST_CASE("when outcomes cannot be stored, the sent messages stay submitting and are not resent") {
  fixture f(20);
  sql_text(f.db,
           "CREATE TRIGGER refuse BEFORE UPDATE OF state ON messages "
           "WHEN NEW.state = 'submitted' BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
  checking_carrier http;
  f.run(http, 4);
  CHECK(http.requests == 20);  // each once: the unknown outcome is reconciled at the next start
  for (const auto& row : f.rows()) {
    CHECK(row.state == message_state::submitting);
    CHECK(row.attempts == 1);
  }
}
