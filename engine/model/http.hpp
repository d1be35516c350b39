#pragma once

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pigeon::engine {

using header_list = std::vector<std::pair<std::string, std::string>>;

struct http_request {
  std::string method = "POST";
  std::string url;
  header_list headers;
  std::string body;
  std::chrono::milliseconds timeout{10000};
};

struct http_response {
  int status = 0;
  header_list headers;  // names as received
  std::string body;

  // The first header with this name (case-insensitive), or empty.
  std::string_view header(std::string_view name) const;
};

// Transport failures of an HTTP exchange, as error_codes of this category.
enum class http_errc {
  connect_failed = 1,  // nothing was sent: refused, unreachable, DNS (safe to resend)
  timed_out,           // the request may have arrived: outcome unknown
  connection_lost,     // reset or closed mid-exchange: outcome unknown
  bad_response,        // not parseable HTTP
  cancelled,
  other,
};
const boost::system::error_category& http_category();
inline boost::system::error_code make_error_code(http_errc e) {
  return {static_cast<int>(e), http_category()};
}
// True when the request certainly did not reach the server, so resending cannot duplicate.
inline bool request_never_sent(const boost::system::error_code& ec) {
  return ec == make_error_code(http_errc::connect_failed);
}

// An asynchronous HTTP client. One instance serves every provider (providers open no sockets).
//
// Threading: call from the io_context thread the client was made on. Each operation completes
// exactly once, through the handler's associated executor, never inline from the initiating
// call. Completion signature: void(error_code, http_response); an HTTP error status (4xx/5xx)
// is not an error_code, it is a response. Cancellation (per-operation slot) aborts the transfer
// and completes with http_errc::cancelled.
class http_client {
 public:
  virtual ~http_client() = default;

  template <typename CompletionToken>
  auto async_perform(http_request request, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken,
                                       void(boost::system::error_code, http_response)>(
        [this](auto handler, http_request req) {
          perform_impl(std::move(req), std::move(handler));
        },
        token, std::move(request));
  }

 private:
  virtual void perform_impl(
      http_request request,
      boost::asio::any_completion_handler<void(boost::system::error_code, http_response)>
          handler) = 0;
};

}  // namespace pigeon::engine

template <>
struct boost::system::is_error_code_enum<pigeon::engine::http_errc> : std::true_type {};
