#pragma once

// webhooks: the request handler behind the webhooks listener.
//
// `POST|GET /webhooks/{provider}/status` and `/inbound` are handed to that provider's codec,
// which verifies authenticity first and parses the request into neutral events
// (engine/model/carrier.hpp). Webhooks are coalesced: while one async_store job records a batch of
// webhooks, the ones that arrive queue up and go together into the next job (at most
// max_webhooks_per_job), so a burst costs one job, one wake-up of the writer and one commit.
// Each webhook runs in its own savepoint inside the job: one that fails to record is undone
// alone and answered 503 (the carrier retries); the others are unaffected. Only once the job's
// transaction is durable does a carrier get its 2xx (with the codec's reply body, e.g. an empty
// TwiML `<Response/>`); if the commit fails every webhook of the batch gets a 503.
//
// Answers: unknown provider or path -> 404; other methods -> 405; codec refusal -> its status
// and reason (security refusals are counted apart); store failure -> 503.
//
// The URL given to codecs (what carriers sign) is the configured public_url + the request
// target, never derived from the Host header.
//
// Threading: operator() runs on the server's io_context thread (one thread: the batch queue is
// not locked); store work, including the recorder, runs on the async_store writer thread. The
// handler object must outlive the server using it; a job still queued in the async_store keeps
// what it needs alive by itself. stats() may be read from any thread.

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "engine/inbound/replies.hpp"
#include "engine/inbound/webhook_guard.hpp"
#include "engine/model/carrier.hpp"
#include "engine/model/clock.hpp"
#include "engine/net/http_server.hpp"
#include "engine/store/async_store.hpp"

namespace pigeon::engine::inbound {

// Counters for /metrics (the lead exposes them).
struct webhook_stats {
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> accepted{0};          // answered 2xx, events durable
  std::atomic<std::uint64_t> refused{0};           // codec refusals (any status)
  std::atomic<std::uint64_t> security_refused{0};  // of which: bad signature, address, token
  std::atomic<std::uint64_t> not_found{0};         // unknown provider or path
  std::atomic<std::uint64_t> store_failures{0};    // answered 503
  std::atomic<std::uint64_t> receipts{0};          // delivery receipts recorded
  std::atomic<std::uint64_t> duplicate_receipts{0};
  std::atomic<std::uint64_t> reconciled{0};  // messages of unknown outcome proved sent
  std::atomic<std::uint64_t> inbound{0};     // MOs recorded
  std::atomic<std::uint64_t> opt_outs{0};
};

// What one webhook's events did, computed on the writer thread.
struct webhook_summary {
  std::size_t receipts = 0;
  std::size_t duplicate_receipts = 0;
  std::size_t reconciled = 0;
  std::size_t inbound = 0;
  std::size_t opt_outs = 0;
};

// Records one webhook's events into the store (receipts through record_receipt, MOs through
// handle_inbound). The default recorder; tests may substitute one.
using webhook_recorder = std::function<webhook_summary(
    store&, const std::string& provider, const webhook_events& events, time_point now)>;
webhook_recorder default_recorder(reply_policy policy);

class webhook_handler {
 public:
  // The most webhooks one store job records (bounds how long a job holds the write lock).
  static constexpr std::size_t max_webhooks_per_job = 1024;

  using codec_map = std::map<std::string, std::shared_ptr<const carrier_codec>>;

  // `public_url` without a trailing slash (it is stripped). `store` and `clk` must outlive the
  // handler. `default_region` reads MO senders written without a country code.
  webhook_handler(async_store& store, const clock& clk, codec_map codecs, std::string public_url,
                  webhook_recorder recorder, std::string default_region = {});

  // Answers any request: /webhooks/* as described above, 404 for everything else.
  boost::asio::awaitable<net::http_response_t> operator()(net::http_request_t request);

  const webhook_stats& stats() const { return stats_; }
  // Refusals by provider and status since start (and in the last 5-10 minutes), for /metrics and
  // the heartbeat detail `pigeon status` reads. On the server's thread.
  std::vector<refusal_count> refusals() const {
    return refusals_.counts(std::chrono::steady_clock::now());
  }

 private:
  async_store& store_;
  const clock& clock_;
  codec_map codecs_;
  std::string public_url_;
  std::string default_region_;
  struct batcher;  // the queue of webhooks waiting for the next store job
  std::shared_ptr<batcher> batcher_;
  webhook_stats stats_;
  refusal_log refusals_;
  replay_guard replays_;
};

}  // namespace pigeon::engine::inbound
