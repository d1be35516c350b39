#include "engine/dispatch/dispatcher.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <filesystem>
#include <set>

#include "engine/store/sqlite/sqlite_store.hpp"
#include "tests/engine/dispatch/dispatcher_harness.hpp"

using namespace pigeon::engine;
using namespace pigeon::engine::dispatch;
using namespace pigeon::engine::sqlite;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// Answers each request with the next scripted response (the last one repeats).
class scripted_http final : public http_client {
 public:
  explicit scripted_http(std::vector<http_response> script) : script_(std::move(script)) {}
  std::vector<http_request> requests;
  asio::any_io_executor executor;  // set by the fixture before running

 private:
  void perform_impl(http_request req,
                    asio::any_completion_handler<void(boost::system::error_code, http_response)>
                        handler) override {
    requests.push_back(req);
    auto resp = script_[std::min(requests.size() - 1, script_.size() - 1)];
    asio::post(executor, [h = std::move(handler), resp]() mutable {
      std::move(h)(boost::system::error_code{}, resp);
    });
  }
  std::vector<http_response> script_;
};

// A minimal dialect: 201 accepts with the body as id, 429 retries, 400 rejects.
class test_codec final : public carrier_codec {
 public:
  std::string_view kind() const override { return "test"; }
  http_request build_submit(const outbound_message& m) const override {
    return {"POST", "http://carrier.test/send?to=" + m.to, {}, m.text};
  }
  submit_verdict parse_submit_reply(const http_response& r) const override {
    if (r.status == 201) return accepted{r.body};
    if (r.status == 429) return retry_later{std::chrono::seconds(30), "429", "slow down"};
    if (r.status == 400) return rejected{"21211", "invalid number"};
    return retry_later{0ms, std::to_string(r.status), r.body};
  }
};

struct fixture {
  std::filesystem::path dir;
  std::unique_ptr<async_store> queue;
  simulated_clock clk{*parse_iso("2026-11-11T02:00:00Z")};

  fixture(int contacts, std::optional<time_point> expires = std::nullopt) {
    dir = std::filesystem::temp_directory_path() /
          ("pigeon-dispatcher-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    std::filesystem::create_directories(dir);
    auto db = sqlite_store::open((dir / "t.db").string());
    std::vector<contact> cs;
    for (int i = 0; i < contacts; ++i) {
      contact c;
      c.phone = "+86139" + std::to_string(10000000 + i);
      c.attributes["first_name"] = "U" + std::to_string(i);
      cs.push_back(c);
    }
    auto ids = db->upsert_contacts(cs);
    stored_campaign camp;
    camp.name = "promo";
    camp.sender = "shop";
    camp.category = "transactional";
    camp.content_hash = "h1";
    camp.templates.push_back(
        {"hello", "A", 100, "sms", "Hi {{first_name}}", {}, {}, false, {}, {}});
    db->save_campaign(camp);
    std::vector<new_message> ms;
    for (auto id : ids) ms.push_back({"promo", "hello", "A", id, clk.now(), expires});
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

  dispatcher_stats run(scripted_http& http, int max_attempts = 8) {
    asio::io_context ioc;
    std::vector<lane_config> lanes{{"main", std::make_shared<test_codec>(), 0, 4}};
    std::map<std::string, sender_profile> senders{{"shop", {"[Shop]", "", 1, false, {"main"}}}};
    dispatcher_options opts;
    opts.owner = "test";
    opts.until_idle = true;
    opts.max_attempts = max_attempts;
    http.executor = ioc.get_executor();
    dispatcher d(ioc.get_executor(), *queue, http, clk, lanes, senders, opts);
    testing::run_to_idle(ioc, d);
    return d.stats();
  }

  std::vector<message_row> rows() { return testing::all_rows(*queue); }
};

}  // namespace

TEST_CASE("the dispatcher submits each due message once, rendered and signed") {
  fixture f(3);
  scripted_http http({{201, {}, "SM1"}});
  auto stats = f.run(http);
  CHECK(stats.submitted == 3);
  REQUIRE(http.requests.size() == 3);
  std::set<std::string> bodies;
  for (const auto& r : http.requests) bodies.insert(r.body);
  CHECK(bodies == std::set<std::string>{"[Shop]Hi U0", "[Shop]Hi U1", "[Shop]Hi U2"});
  for (const auto& row : f.rows()) {
    CHECK(row.state == message_state::submitted);
    CHECK(row.carrier_id == "SM1");
    CHECK(row.provider == "main");
    CHECK(row.attempts == 1);
  }
}

TEST_CASE("a throttled message is retried after the carrier's Retry-After and then submitted") {
  fixture f(1);
  auto start = f.clk.now();
  scripted_http http({{429, {}, ""}, {201, {}, "SM2"}});
  auto stats = f.run(http);
  CHECK(stats.retried == 1);
  CHECK(stats.submitted == 1);
  auto rows = f.rows();
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].state == message_state::submitted);
  CHECK(rows[0].attempts == 2);
  // The simulated clock jumped to the retry, which waited at least the 30 s asked for.
  CHECK(*rows[0].sent_at - start >= 30s);
}

TEST_CASE("a permanently rejected message fails with the carrier's code") {
  fixture f(1);
  scripted_http http({{400, {}, ""}});
  f.run(http);
  auto rows = f.rows();
  CHECK(rows[0].state == message_state::failed);
  CHECK(rows[0].reason == "rejected 21211: invalid number");
  CHECK(http.requests.size() == 1);
}

TEST_CASE("a message that keeps failing gives up after the attempt limit with the last reason") {
  fixture f(1);
  scripted_http http({{503, {}, "down"}});
  f.run(http, 3);
  auto rows = f.rows();
  CHECK(rows[0].state == message_state::failed);
  CHECK(rows[0].reason == "gave up after 3 attempts: carrier 503: down");
  CHECK(http.requests.size() == 3);
}

TEST_CASE("a message past its validity expires without being sent") {
  fixture f(2, *parse_iso("2026-11-11T01:00:00Z"));
  scripted_http http({{201, {}, "SM1"}});
  auto stats = f.run(http);
  CHECK(stats.expired == 2);
  CHECK(http.requests.empty());
  for (const auto& row : f.rows()) CHECK(row.state == message_state::expired);
}
