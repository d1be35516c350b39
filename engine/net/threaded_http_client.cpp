#include "engine/net/threaded_http_client.hpp"

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <future>
#include <stdexcept>

#include "engine/net/curl_multi_client.hpp"

namespace pigeon::engine::net {

namespace asio = boost::asio;
using engine::http_errc;
using engine::http_request;
using engine::http_response;

namespace {

using handler_type =
    asio::any_completion_handler<void(boost::system::error_code, engine::http_response)>;

// What a transfer shares between the two threads: the signal the I/O thread's client listens
// on. The caller's slot handler posts its emissions to the I/O thread; the signal outlives both.
struct transfer_state {
  asio::cancellation_signal signal;  // emitted and listened to on the I/O thread only
};

}  // namespace

threaded_http_client::threaded_http_client(asio::any_io_executor caller, int max_connections)
    : caller_(std::move(caller)) {
  std::promise<void> ready;
  auto started = ready.get_future();
  thread_ = std::thread([this, max_connections, &ready] {
    try {
      client_ = std::make_unique<curl_multi_client>(io_.get_executor(), max_connections);
    } catch (...) {
      ready.set_exception(std::current_exception());
      return;
    }
    ready.set_value();
    io_.run();
    client_.reset();  // on the thread it was made on
  });
  try {
    started.get();
  } catch (...) {
    thread_.join();
    throw;
  }
}

threaded_http_client::~threaded_http_client() { shutdown(); }

void threaded_http_client::shutdown() {
  if (stopped_) return;
  stopped_ = true;
  // The client completes its transfers with cancelled (through its loop, then their
  // executors) and closes its connections; the loop then runs out of work and the thread ends.
  asio::post(io_, [this] { client_->shutdown(); });
  io_work_.reset();
  thread_.join();
}

void threaded_http_client::perform_impl(http_request request, handler_type handler) {
  auto executor = asio::get_associated_executor(handler, caller_);
  auto work = asio::make_work_guard(executor);
  auto outer_slot = asio::get_associated_cancellation_slot(handler);
  auto state = std::make_shared<transfer_state>();
  ++*in_flight_;
  // Runs on `executor` (the caller's side): detach the caller's slot, then the handler.
  auto finish = [handler = std::move(handler), outer_slot, state, work = std::move(work),
                 counter = in_flight_](boost::system::error_code ec,
                                       http_response response) mutable {
    if (outer_slot.is_connected()) outer_slot.clear();
    --*counter;
    auto h = std::move(handler);
    work.reset();
    std::move(h)(ec, std::move(response));
  };
  auto completion = asio::bind_executor(executor, std::move(finish));
  if (stopped_) {  // through the caller's loop, so never inline, then the handler's executor
    asio::post(caller_, [executor, c = std::move(completion)]() mutable {
      asio::dispatch(executor, [c = std::move(c)]() mutable {
        std::move(c)(engine::make_error_code(http_errc::cancelled), http_response{});
      });
    });
    return;
  }
  if (outer_slot.is_connected()) {
    outer_slot.assign([io = io_.get_executor(), state](asio::cancellation_type type) {
      if (type == asio::cancellation_type::none) return;
      asio::post(io, [state, type] { state->signal.emit(type); });
    });
  }
  // On the I/O thread: the inner handler completes through `executor` (bound above).
  asio::post(io_, [this, state, request = std::move(request),
                   completion = std::move(completion)]() mutable {
    client_->async_perform(std::move(request), asio::bind_cancellation_slot(state->signal.slot(),
                                                                            std::move(completion)));
  });
}

}  // namespace pigeon::engine::net
