#pragma once

// curl_multi_client: the one shared HTTP client, libcurl's multi interface driven by the Asio
// loop through curl_multi_socket_action.
//
// Threading: construct, call and destroy on the thread that runs the executor's io_context
// (one loop thread). Asio owns every socket curl opens and waits on it with async_wait; curl
// never blocks the loop and is never re-entered from its own callbacks.
// Completion: each async_perform completes exactly once, through the handler's associated
// executor (work is tracked on it while the transfer is pending), never inline from the
// initiating call. Transport failures are http_errc values; HTTP 4xx/5xx are responses.
// Cancellation: a signal on the handler's cancellation slot (any type) removes the transfer and
// completes it with http_errc::cancelled; request.timeout is always applied as a backstop
// (CURLOPT_TIMEOUT_MS) and completes with http_errc::timed_out.
// Lifetime: destroy the client (or call shutdown()) before its io_context. shutdown() and the
// destructor complete pending transfers with cancelled (posted, never inline) and close every
// connection; requests made after shutdown() complete with cancelled.
// At most once: a request is sent at most once per async_perform. libcurl's silent re-send on a
// reused connection that died without an answer is refused and reported as connection_lost
// (the first copy may have arrived), so every copy a carrier sees is an attempt the caller saw.
// Failure: construction throws std::runtime_error if libcurl cannot make a multi handle.

#include <boost/asio/any_io_executor.hpp>
#include <cstddef>
#include <memory>

#include "engine/model/http.hpp"

namespace pigeon::engine::net {

class curl_multi_client final : public engine::http_client {
 public:
  // max_connections bounds open connections in total and per host, and the idle pool; extra
  // requests queue inside curl until a connection frees up.
  curl_multi_client(boost::asio::any_io_executor executor, int max_connections);
  ~curl_multi_client() override;

  curl_multi_client(const curl_multi_client&) = delete;
  curl_multi_client& operator=(const curl_multi_client&) = delete;

  // Completes every pending transfer with http_errc::cancelled and releases curl. Idempotent.
  void shutdown();

  // Transfers started and not yet completed.
  std::size_t in_flight() const;

 private:
  void perform_impl(
      engine::http_request request,
      boost::asio::any_completion_handler<void(boost::system::error_code, engine::http_response)>
          handler) override;

  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace pigeon::engine::net
