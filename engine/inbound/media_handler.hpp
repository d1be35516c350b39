#pragma once

// media_handler: `GET|HEAD /media/<path>` on the webhooks listener, where carriers fetch the
// MMS media pigeon sent them as {public_url}/media/<path> (engine/dispatch/media_files.hpp).
//
// Only files inside the engine config's media_dir are served, checked at every request: the
// canonical path (symbolic links and `..` resolved) must be inside media_dir's, a regular file
// of a media type decided by its first bytes (Content-Type says that type). Anything else,
// including a folder (no listing), a hidden name, a link out of media_dir or a file whose
// content does not match its name, is a 404 that says nothing about what exists; the reason is
// logged at debug level. Other methods get 405. HEAD answers the headers of the GET (the
// server drops the body, net/http_server.hpp).
//
// Threading: the server's io_context thread. Files are read synchronously (at most
// max_served_media_bytes; MMS media are a few hundred KB, read from the page cache).
#include <boost/asio/awaitable.hpp>
#include <string>
#include <string_view>

#include "engine/net/http_server.hpp"

namespace pigeon::engine::inbound {

class media_handler {
 public:
  // `media_dir` as in the engine config (absolute); empty: every request is a 404.
  explicit media_handler(std::string media_dir);

  // Whether `target` is for this handler ("/media/..." or "/media").
  static bool handles(std::string_view target);

  boost::asio::awaitable<net::http_response_t> operator()(net::http_request_t request) const;

  // The response, synchronously (operator() wraps it).
  net::http_response_t respond(const net::http_request_t& request) const;

 private:
  std::string media_dir_;
};

}  // namespace pigeon::engine::inbound
