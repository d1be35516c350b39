#pragma once

// The libcurl easy-handle side of curl_multi_client (engine/net/curl_multi_client.cpp): error
// mapping, the proxy check, shared header blocks, reusable easy handles with a parsed URL, and
// the response callbacks. Internal to pigeon_net.
// Threading: none of it is thread-safe; a client's objects are used on its one loop thread.

#include <curl/curl.h>

#include <boost/system/error_code.hpp>
#include <string>

#include "engine/model/http.hpp"

namespace pigeon::engine::net::curl {

// curl_global_init, once per process; throws std::runtime_error when libcurl cannot start.
void global_init_once();

// A transfer's CURLcode as the client's transport error (engine::http_errc).
boost::system::error_code map_curl_error(CURLcode rc);

// True when none of the variables libcurl takes a proxy from for http and https is set.
// libcurl reads them (and no_proxy) with getenv for every transfer; the client reads them once
// and, when there is none, tells libcurl that no host goes through a proxy (CURLOPT_NOPROXY
// "*"), which skips those lookups. Set ones are left to libcurl as before.
bool no_proxy_in_environment();

// A request's header lines as curl wants them (CURLOPT_HTTPHEADER), with the list they came
// from. Lanes send the same headers with every request, so the client keeps the last block and
// shares it between transfers instead of building a curl_slist (a strdup per line) per request.
struct header_block {
  explicit header_block(engine::header_list from);
  ~header_block();
  header_block(const header_block&) = delete;
  header_block& operator=(const header_block&) = delete;

  engine::header_list source;
  curl_slist* lines = nullptr;
};

// An easy handle with what its last request set. Handles are reused without curl_easy_reset
// (which strdups libcurl's default CA paths and rebuilds every option, per request): the options
// that are the same for every request are set once when the handle is made (set_constant_options),
// and each request sets everything else again, so nothing of an earlier request can remain.
// The method options are the exception: they interact (POSTFIELDS makes curl's method POST,
// HTTPGET and NOBODY switch it back, CUSTOMREQUEST is a string kept until cleared), so a handle
// whose last request had another method or body presence is reset and set up anew; one whose
// last request had the same shape only gets the new body pointer and size.
// The URL is given as a parsed CURLU (CURLOPT_CURLU), parsed again only when it differs from
// the handle's last one: with CURLOPT_URL libcurl parses the text and prints it back for every
// transfer (about a tenth of the loop thread's instructions per message, measured).
struct easy_handle {
  CURL* easy = nullptr;
  CURLU* parsed_url = nullptr;  // owned; CURLOPT_CURLU points to it when url is set through it
  bool used = false;            // false: fresh, only the constant options are set
  std::string method;           // of the last request
  bool body = false;            // the last request had a body
  std::string url;              // the URL as last set
};

// Frees the handle and its CURLU (either may be null); leaves them null.
void destroy(easy_handle& h);

// Sets `url` on the handle, through its CURLU when libcurl's parser takes it (with the flags
// libcurl itself parses CURLOPT_URL with), else as text, so a URL that libcurl refuses fails
// the transfer as it always did (CURLE_URL_MALFORMAT).
void set_url(easy_handle& h, const std::string& url);

// CURLOPT_WRITEFUNCTION and CURLOPT_HEADERFUNCTION; their data pointer is the transfer's
// engine::http_response. Headers are trimmed; a new status line (100 Continue, a redirect)
// starts the header list again. A body beyond max_response_body aborts the transfer (an
// error, http_errc::other): carriers answer in bytes, and nothing may fill the memory.
inline constexpr std::size_t max_response_body = 64 * 1024 * 1024;
size_t on_body(char* data, size_t size, size_t count, void* response);
size_t on_header(char* data, size_t size, size_t count, void* response);

}  // namespace pigeon::engine::net::curl
