// The dispatcher's compiled-template cache stays bounded when it sends many direct replies.
#include <doctest/doctest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <filesystem>

#include "engine/dispatch/dispatcher.hpp"
#include "engine/store/sqlite/sqlite_store.hpp"
#include "tests/engine/dispatch/dispatcher_harness.hpp"

using namespace pigeon::engine;
using namespace pigeon::engine::dispatch;
using namespace pigeon::engine::sqlite;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

class accepting_http final : public http_client {
 public:
  std::vector<http_request> requests;
  asio::any_io_executor executor;

 private:
  void perform_impl(http_request req,
                    asio::any_completion_handler<void(boost::system::error_code, http_response)>
                        handler) override {
    requests.push_back(req);
    http_response resp{201, {}, "SM" + std::to_string(requests.size())};
    asio::post(executor, [h = std::move(handler), resp]() mutable {
      std::move(h)(boost::system::error_code{}, resp);
    });
  }
};

}  // namespace

TEST_CASE("sending many direct replies keeps one compiled template per distinct reply text") {
  auto dir = std::filesystem::temp_directory_path() /
             ("pigeon-dispatcher-replies-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  simulated_clock clk{*parse_iso("2026-11-11T02:00:00Z")};
  constexpr int replies = 60;
  {
    auto db = sqlite_store::open((dir / "t.db").string());
    std::vector<contact> cs(replies);
    for (int i = 0; i < replies; ++i) cs[i].phone = "+86139" + std::to_string(10000000 + i);
    auto ids = db->upsert_contacts(cs);
    stored_campaign camp;
    camp.name = "promo";
    camp.sender = "shop";
    camp.category = "marketing";
    camp.content_hash = "h1";
    camp.templates.push_back({"hello", "A", 100, "sms", "Hi", {}, {}, false, {}, {}});
    db->save_campaign(camp);
    db->enqueue({{"promo", "hello", "A", ids[0], clk.now(), std::nullopt}});
    // Two distinct reply texts (a keyword's respond and HELP), one reply per contact.
    for (int i = 0; i < replies; ++i)
      db->enqueue_direct("promo", ids[i], 1000 + i, i % 2 ? "Sample reserved" : "Help: call 400",
                         clk.now());
    async_store queue(std::move(db));
    asio::io_context ioc;
    accepting_http http;
    http.executor = ioc.get_executor();
    std::vector<lane_config> lanes{{"main", std::make_shared<testing::accepting_codec>(), 0, 4}};
    std::map<std::string, sender_profile> senders{{"shop", {"", "", 1, false, {"main"}}}};
    dispatcher_options opts;
    opts.owner = "test";
    opts.until_idle = true;
    dispatcher d(ioc.get_executor(), queue, http, clk, lanes, senders, opts);
    testing::run_to_idle(ioc, d);
    CHECK(d.stats().submitted == replies + 1);
    CHECK(http.requests.size() == replies + 1);
    // The campaign step, and the two reply texts: not one entry per reply sent.
    CHECK(d.compiled_templates() == 3);
  }
  std::filesystem::remove_all(dir);
}
