#pragma once

// threaded_http_client: the shared HTTP client with libcurl's work on an I/O thread of its own.
// One message per request, libcurl (request building, parsing, socket calls) is most of the
// Asio thread's CPU per message; this client runs a curl_multi_client on a second io_context
// thread, so the dispatcher's thread keeps only the engine's own work (docs/BENCHMARKS.md).
//
// Threading: construct, call (async_perform, shutdown, in_flight) and destroy on the caller's
// thread, the one running `caller`'s io_context. Transfers run on the I/O thread; every
// completion is delivered through the handler's associated executor (`caller` when it has
// none), never on the I/O thread and never inline. Work is tracked on that executor while a
// transfer is pending, so the caller's io_context::run() does not return under it.
// Cancellation: a signal on the handler's cancellation slot is carried to the I/O thread and
// completes the transfer with http_errc::cancelled, as curl_multi_client does.
// Lifetime: shutdown() (or the destructor) completes pending transfers with cancelled, joins
// the I/O thread; later requests complete with cancelled. Destroy before `caller`'s io_context.
// Failure: construction throws std::runtime_error if libcurl cannot make a multi handle.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <memory>
#include <thread>

#include "engine/model/http.hpp"

namespace pigeon::engine::net {

class curl_multi_client;

class threaded_http_client final : public engine::http_client {
 public:
  // max_connections as for curl_multi_client.
  threaded_http_client(boost::asio::any_io_executor caller, int max_connections);
  ~threaded_http_client() override;

  threaded_http_client(const threaded_http_client&) = delete;
  threaded_http_client& operator=(const threaded_http_client&) = delete;

  // Completes every pending transfer with http_errc::cancelled and stops the I/O thread.
  // Idempotent.
  void shutdown();

  // Transfers started and not yet completed (their handlers not yet run).
  std::size_t in_flight() const { return *in_flight_; }

 private:
  void perform_impl(
      engine::http_request request,
      boost::asio::any_completion_handler<void(boost::system::error_code, engine::http_response)>
          handler) override;

  boost::asio::any_io_executor caller_;
  boost::asio::io_context io_{1};
  // Keeps io_ running until shutdown(); then it runs until the cancelled transfers are handed
  // over, and the thread ends.
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> io_work_{
      io_.get_executor()};
  std::unique_ptr<curl_multi_client> client_;  // made, used and destroyed on thread_
  std::shared_ptr<std::size_t> in_flight_ = std::make_shared<std::size_t>(0);  // caller thread
  bool stopped_ = false;
  std::thread thread_;
};

}  // namespace pigeon::engine::net
