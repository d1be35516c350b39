#include "engine/net/curl_multi_client.hpp"

#include <curl/curl.h>
#include <unistd.h>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace pigeon::net {

namespace asio = boost::asio;
using boost::system::error_code;
using engine::http_errc;
using engine::http_request;
using engine::http_response;
using handler_type = asio::any_completion_handler<void(error_code, http_response)>;
using completion_work = asio::executor_work_guard<asio::any_completion_executor>;

namespace {

void global_init_once() {
  static const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (rc != CURLE_OK) throw std::runtime_error("curl_global_init failed");
}

error_code map_curl_error(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return http_errc::connect_failed;
    case CURLE_OPERATION_TIMEDOUT:
      return http_errc::timed_out;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
      return http_errc::connection_lost;
    case CURLE_WEIRD_SERVER_REPLY:
      return http_errc::bad_response;
    default:
      return http_errc::other;
  }
}

// True when none of the variables libcurl takes a proxy from for http and https is set.
// libcurl reads them (and no_proxy) with getenv for every transfer; the client reads them once
// and, when there is none, tells libcurl that no host goes through a proxy (CURLOPT_NOPROXY
// "*"), which skips those lookups. Set ones are left to libcurl as before.
bool no_proxy_in_environment() {
  for (const char* name :
       {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}) {
    const char* value = std::getenv(name);
    if (value && *value) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

// One socket curl opened through us. Wait handlers hold it weakly: once curl closes it the fd
// number may be reused by a new socket, and a stale wait must not act for the new one.
struct socket_state {
  explicit socket_state(asio::any_io_executor ex) : socket(std::move(ex)) {}
  asio::ip::tcp::socket socket;
  int want = 0;  // CURL_POLL_IN | CURL_POLL_OUT bits curl currently asked for
  bool read_pending = false;
  bool write_pending = false;
  bool closed = false;
};

// A request's header lines as curl wants them (CURLOPT_HTTPHEADER), with the list they came
// from. Lanes send the same headers with every request, so the client keeps the last block and
// shares it between transfers instead of building a curl_slist (a strdup per line) per request.
struct header_block {
  explicit header_block(engine::header_list from) : source(std::move(from)) {
    std::string line;
    for (const auto& [name, value] : source) {
      line.assign(name).append(": ").append(value);
      lines = curl_slist_append(lines, line.c_str());
    }
    // No "Expect: 100-continue" round trip: carriers answer small JSON posts directly.
    lines = curl_slist_append(lines, "Expect:");
  }
  ~header_block() {
    if (lines) curl_slist_free_all(lines);
  }
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

void destroy(easy_handle& h) {
  if (h.easy) curl_easy_cleanup(h.easy);
  if (h.parsed_url) curl_url_cleanup(h.parsed_url);
  h.easy = nullptr;
  h.parsed_url = nullptr;
}

// Sets `url` on the handle, through its CURLU when libcurl's parser takes it (with the flags
// libcurl itself parses CURLOPT_URL with), else as text, so a URL that libcurl refuses fails
// the transfer as it always did (CURLE_URL_MALFORMAT).
void set_url(easy_handle& h, const std::string& url) {
  if (!h.parsed_url) h.parsed_url = curl_url();
  if (h.parsed_url && curl_url_set(h.parsed_url, CURLUPART_URL, url.c_str(),
                                   CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK) {
    curl_easy_setopt(h.easy, CURLOPT_URL, nullptr);  // the transfer takes the text from the CURLU
    curl_easy_setopt(h.easy, CURLOPT_CURLU, h.parsed_url);
  } else {
    curl_easy_setopt(h.easy, CURLOPT_CURLU, nullptr);
    curl_easy_setopt(h.easy, CURLOPT_URL, url.c_str());
  }
  h.url = url;
}

// One request in flight; owned by impl::transfers_, pointed to by CURLOPT_PRIVATE.
struct transfer {
  transfer(std::uint64_t id, handler_type h, completion_work w)
      : id(id), handler(std::move(h)), work(std::move(w)) {}
  ~transfer() { destroy(easy); }
  transfer(const transfer&) = delete;
  transfer& operator=(const transfer&) = delete;

  std::uint64_t id;
  handler_type handler;
  completion_work work;
  asio::cancellation_slot slot;
  easy_handle easy;
  std::shared_ptr<const header_block> headers;  // CURLOPT_HTTPHEADER points into it
  std::string body;                             // CURLOPT_POSTFIELDS points into it
  http_response response;
  char error[CURL_ERROR_SIZE] = {};
  int sends = 0;  // times curl was about to send the request (see on_prereq)
};

// Called right before each time curl sends the request. libcurl silently re-sends a request
// once when a reused keep-alive connection dies before any byte of the answer ("Connection
// died, retrying a fresh connect"), but the carrier may have processed the first copy. A second
// send is refused here: the transfer fails as connection_lost (outcome unknown), so the caller
// records the attempt and decides about a resend itself; nothing goes out twice untraced.
int on_prereq(void* user, char*, char*, int, int) {
  auto* t = static_cast<transfer*>(user);
  return ++t->sends > 1 ? CURL_PREREQFUNC_ABORT : CURL_PREREQFUNC_OK;
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  static_cast<transfer*>(user)->response.body.append(data, size * count);
  return size * count;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<transfer*>(user);
  const std::string_view line = trim(std::string_view(data, size * count));
  if (line.starts_with("HTTP/")) {
    t->response.headers.clear();  // a new header block (100 Continue, or a redirect)
  } else if (auto colon = line.find(':'); colon != std::string_view::npos) {
    // Responses carry a handful of headers: one allocation instead of growing 1, 2, 4, 8.
    if (t->response.headers.empty()) t->response.headers.reserve(8);
    t->response.headers.emplace_back(std::string(trim(line.substr(0, colon))),
                                     std::string(trim(line.substr(colon + 1))));
  }
  return size * count;
}

}  // namespace

struct curl_multi_client::impl : std::enable_shared_from_this<impl> {
  impl(asio::any_io_executor ex, int max_connections) : ex_(ex), timer_(ex) {
    global_init_once();
    multi_ = curl_multi_init();
    if (!multi_) throw std::runtime_error("curl_multi_init failed");
    const long max = max_connections > 0 ? max_connections : 1;
    curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &impl::on_socket);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &impl::on_timer);
    curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, max);
    curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, max);
    curl_multi_setopt(multi_, CURLMOPT_MAX_TOTAL_CONNECTIONS, max);
    max_idle_easy_ = static_cast<std::size_t>(max) * 2;
    direct_ = no_proxy_in_environment();
  }
  ~impl() { shutdown(); }

  void start(http_request request, handler_type handler);
  void shutdown();

  // --- curl callbacks: record what curl wants, arm Asio waits; never call curl_multi_* here.
  static int on_socket(CURL* easy, curl_socket_t fd, int what, void* user, void* socket_user);
  static int on_timer(CURLM* multi, long timeout_ms, void* user);
  static curl_socket_t on_open(void* user, curlsocktype purpose, curl_sockaddr* address);
  static int on_close(void* user, curl_socket_t fd);

  // --- loop side
  void arm(const std::shared_ptr<socket_state>& state, curl_socket_t fd, int direction);
  void on_ready(const std::shared_ptr<socket_state>& state, curl_socket_t fd, int direction,
                error_code ec);
  void socket_action(curl_socket_t fd, int mask);
  void cancel(std::uint64_t id);
  void drain();
  // Easy handles are reused (see easy_handle): cheaper than curl_easy_cleanup + curl_easy_init
  // per request, and the handle keeps its caches (connections live in the multi's pool).
  easy_handle take_easy();
  void set_constant_options(CURL* e);
  void give_back_easy(transfer& t);
  // The header block for `headers`: the last one when the list is the same, else a new one.
  std::shared_ptr<const header_block> headers_for(engine::header_list headers);

  asio::any_io_executor ex_;
  std::vector<easy_handle> idle_easy_;
  std::size_t max_idle_easy_ = 1;
  bool direct_ = false;  // no proxy variable in the environment (see no_proxy_in_environment)
  std::shared_ptr<const header_block> last_headers_;
  asio::steady_timer timer_;
  bool timer_armed_ = false;  // a wait on timer_ is pending (cancel only then)
  std::uint64_t timer_generation_ = 0;
  bool asap_posted_ = false;           // a 0 ms timer's post is queued on the loop
  std::uint64_t asap_generation_ = 0;  // the generation that post acts for
  CURLM* multi_ = nullptr;
  bool closing_ = false;
  std::uint64_t next_id_ = 1;
  std::unordered_map<std::uint64_t, std::unique_ptr<transfer>> transfers_;
  std::unordered_map<curl_socket_t, std::shared_ptr<socket_state>> sockets_;
  std::deque<std::pair<std::unique_ptr<transfer>, error_code>> done_;
};

namespace {

// Hands the result to the handler through its associated executor (dispatch, with work tracked
// until then) and drops the curl state first, so the handler may start a new request or destroy
// the client. Where the caller may be inside the client (shutdown, failed initiation), hop
// through the loop first (`post`): any_completion_executor cannot be required never-blocking.
void complete(std::unique_ptr<transfer> t, error_code ec, const asio::any_io_executor* loop) {
  if (t->slot.is_connected()) t->slot.clear();
  auto work = std::move(t->work);
  auto fn = [handler = std::move(t->handler), ec, response = std::move(t->response)]() mutable {
    std::move(handler)(ec, std::move(response));
  };
  t.reset();
  if (!loop) {
    asio::dispatch(work.get_executor(), std::move(fn));
    return;
  }
  asio::post(*loop, [work = std::move(work), fn = std::move(fn)]() mutable {
    asio::dispatch(work.get_executor(), std::move(fn));
  });
}

}  // namespace

void curl_multi_client::impl::start(http_request request, handler_type handler) {
  completion_work work(asio::get_associated_executor(handler, ex_));
  auto t = std::make_unique<transfer>(next_id_++, std::move(handler), std::move(work));
  if (!multi_) return complete(std::move(t), http_errc::cancelled, &ex_);

  t->easy = take_easy();
  if (!t->easy.easy) return complete(std::move(t), http_errc::other, &ex_);
  CURL* e = t->easy.easy;
  t->body = std::move(request.body);
  const bool has_body = !t->body.empty();
  easy_handle& h = t->easy;
  const bool same_shape = h.used && h.method == request.method && h.body == has_body;
  if (h.used && !same_shape) {
    curl_easy_reset(e);
    set_constant_options(e);
    h.url.clear();
  }
  if (h.url != request.url) set_url(h, request.url);
  curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
  curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
  curl_easy_setopt(e, CURLOPT_PREREQDATA, t.get());
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));

  t->headers = headers_for(std::move(request.headers));
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers->lines);

  if (request.method == "GET" && !has_body) {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  } else if (request.method == "HEAD") {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else {
    if (request.method == "POST" || has_body) {
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t->body.size()));
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body.data());
    }
    if (request.method != "POST" && !same_shape)
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  h.used = true;
  h.method = std::move(request.method);
  h.body = has_body;

  if (auto slot = asio::get_associated_cancellation_slot(t->handler); slot.is_connected()) {
    t->slot = slot;
    // The signal may be emitted from anywhere (even inside another completion): hop to the
    // loop and look the transfer up by id, since it may have completed in the meantime.
    slot.assign([weak = weak_from_this(), id = t->id, ex = ex_](asio::cancellation_type type) {
      if (type == asio::cancellation_type::none) return;
      asio::post(ex, [weak, id] {
        if (auto self = weak.lock()) self->cancel(id);
      });
    });
  }

  // add_handle arms curl's timer (0 ms); the first socket_action then runs from our timer.
  if (curl_multi_add_handle(multi_, e) != CURLM_OK)
    return complete(std::move(t), http_errc::other, &ex_);
  const auto id = t->id;
  transfers_.emplace(id, std::move(t));
}

int curl_multi_client::impl::on_socket(CURL*, curl_socket_t fd, int what, void* user, void*) {
  auto* self = static_cast<impl*>(user);
  auto it = self->sockets_.find(fd);
  if (it == self->sockets_.end()) return 0;  // already closed through on_close
  auto state = it->second;
  state->want = what == CURL_POLL_REMOVE ? 0 : (what & (CURL_POLL_IN | CURL_POLL_OUT));
  self->arm(state, fd, CURL_POLL_IN);
  self->arm(state, fd, CURL_POLL_OUT);
  return 0;
}

int curl_multi_client::impl::on_timer(CURLM*, long timeout_ms, void* user) {
  auto* self = static_cast<impl*>(user);
  // A completion of the previous wait (or post) may already be queued and cannot be cancelled
  // any more; the generation makes it a no-op.
  const auto generation = ++self->timer_generation_;
  if (self->timer_armed_) {
    self->timer_armed_ = false;
    self->timer_.cancel();
  }
  if (timeout_ms < 0 || self->closing_) return 0;  // -1: delete the timer
  if (timeout_ms == 0) {
    // "As soon as possible" (every curl_multi_add_handle asks for it): a post on the loop, not a
    // timer, which would cost a timerfd update per request. One post at a time: requests added
    // while it is queued (a burst of completions each starting the next request) share it, and
    // it acts only if no later call of curl's replaced this timer.
    self->asap_generation_ = generation;
    if (self->asap_posted_) return 0;
    self->asap_posted_ = true;
    asio::post(self->ex_, [weak = self->weak_from_this()] {
      auto s = weak.lock();
      if (!s) return;
      s->asap_posted_ = false;
      if (s->asap_generation_ != s->timer_generation_ || !s->multi_ || s->closing_) return;
      s->socket_action(CURL_SOCKET_TIMEOUT, 0);
      s->drain();
    });
    return 0;
  }
  auto fire = [weak = self->weak_from_this(), generation](error_code ec) {
    auto s = weak.lock();
    if (ec || !s || generation != s->timer_generation_ || !s->multi_ || s->closing_) return;
    s->timer_armed_ = false;
    s->socket_action(CURL_SOCKET_TIMEOUT, 0);
    s->drain();
  };
  self->timer_armed_ = true;
  self->timer_.expires_after(std::chrono::milliseconds(timeout_ms));
  self->timer_.async_wait(std::move(fire));
  return 0;
}

curl_socket_t curl_multi_client::impl::on_open(void* user, curlsocktype purpose,
                                               curl_sockaddr* address) {
  auto* self = static_cast<impl*>(user);
  if (purpose != CURLSOCKTYPE_IPCXN || address->socktype != SOCK_STREAM ||
      (address->family != AF_INET && address->family != AF_INET6))
    return CURL_SOCKET_BAD;
  auto state = std::make_shared<socket_state>(self->ex_);
  error_code ec;
  state->socket.open(address->family == AF_INET ? asio::ip::tcp::v4() : asio::ip::tcp::v6(), ec);
  if (ec) return CURL_SOCKET_BAD;
  const curl_socket_t fd = state->socket.native_handle();
  auto& slot = self->sockets_[fd];
  if (slot) slot->closed = true;  // defensive: a state for a recycled fd we never saw closed
  slot = std::move(state);
  return fd;
}

int curl_multi_client::impl::on_close(void* user, curl_socket_t fd) {
  auto* self = static_cast<impl*>(user);
  auto it = self->sockets_.find(fd);
  if (it == self->sockets_.end()) return ::close(fd);
  auto state = std::move(it->second);
  self->sockets_.erase(it);
  state->closed = true;
  state->want = 0;
  error_code ignored;
  state->socket.close(ignored);  // pending waits complete with operation_aborted, then no-op
  return 0;
}

// No poll() before waiting: Asio's epoll reactor is edge-triggered, but async_wait is not
// speculative, and a non-speculative operation queued on an idle direction re-arms the descriptor
// with EPOLL_CTL_MOD (boost/asio/detail/impl/epoll_reactor.ipp, start_op), which makes the kernel
// report readiness that is already there. So readiness that arrived while no wait was queued
// (between a completed wait and its re-arm, or while curl did not want that direction) is not
// lost; tests/net/curl_multi_client_test.cpp has a case for it.
void curl_multi_client::impl::arm(const std::shared_ptr<socket_state>& state, curl_socket_t fd,
                                  int direction) {
  bool& pending = direction == CURL_POLL_IN ? state->read_pending : state->write_pending;
  if (pending || state->closed || closing_ || !(state->want & direction)) return;
  pending = true;
  state->socket.async_wait(
      direction == CURL_POLL_IN ? asio::socket_base::wait_read : asio::socket_base::wait_write,
      [weak = weak_from_this(), weak_state = std::weak_ptr<socket_state>(state), fd,
       direction](error_code ec) {
        auto self = weak.lock();
        auto st = weak_state.lock();
        if (self && st) self->on_ready(st, fd, direction, ec);
      });
}

void curl_multi_client::impl::on_ready(const std::shared_ptr<socket_state>& state, curl_socket_t fd,
                                       int direction, error_code ec) {
  (direction == CURL_POLL_IN ? state->read_pending : state->write_pending) = false;
  if (state->closed || !multi_ || closing_ || ec == asio::error::operation_aborted) return;
  if (!(state->want & direction)) return;  // curl lost interest while we waited
  int mask = direction == CURL_POLL_IN ? CURL_CSELECT_IN : CURL_CSELECT_OUT;
  if (ec) mask |= CURL_CSELECT_ERR;
  socket_action(fd, mask);
  arm(state, fd, direction);  // still wanted after the action: wait again
  drain();
}

void curl_multi_client::impl::socket_action(curl_socket_t fd, int mask) {
  int running = 0;
  curl_multi_socket_action(multi_, fd, mask, &running);
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    CURL* easy = msg->easy_handle;
    const CURLcode result = msg->data.result;
    transfer* raw = nullptr;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &raw);
    curl_multi_remove_handle(multi_, easy);  // invalidates msg
    auto it = transfers_.find(raw->id);
    if (it == transfers_.end()) continue;
    auto t = std::move(it->second);
    transfers_.erase(it);
    error_code ec;
    long status = 0;
    if (result == CURLE_OK) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    give_back_easy(*t);
    if (result == CURLE_OK) {
      t->response.status = static_cast<int>(status);
    } else if (result == CURLE_ABORTED_BY_CALLBACK && t->sends > 1) {
      ec = http_errc::connection_lost;  // the silent resend was refused (on_prereq)
    } else {
      ec = map_curl_error(result);
    }
    done_.emplace_back(std::move(t), ec);
  }
}

void curl_multi_client::impl::cancel(std::uint64_t id) {
  auto it = transfers_.find(id);
  if (it == transfers_.end() || !multi_) return;
  auto t = std::move(it->second);
  transfers_.erase(it);
  curl_multi_remove_handle(multi_, t->easy.easy);
  give_back_easy(*t);
  done_.emplace_back(std::move(t), http_errc::cancelled);
  drain();
}

std::shared_ptr<const header_block> curl_multi_client::impl::headers_for(
    engine::header_list headers) {
  if (!last_headers_ || last_headers_->source != headers)
    last_headers_ = std::make_shared<const header_block>(std::move(headers));
  return last_headers_;
}

easy_handle curl_multi_client::impl::take_easy() {
  if (idle_easy_.empty()) {
    easy_handle fresh;
    fresh.easy = curl_easy_init();
    if (fresh.easy) set_constant_options(fresh.easy);
    return fresh;
  }
  easy_handle h = std::move(idle_easy_.back());
  idle_easy_.pop_back();
  return h;
}

// The options every request has (set on a new handle and after curl_easy_reset).
void curl_multi_client::impl::set_constant_options(CURL* e) {
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &on_body);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &on_header);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, &impl::on_open);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, this);
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, &impl::on_close);
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, this);
  curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, &on_prereq);
  if (direct_) curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
}

// After curl_multi_remove_handle: the handle is kept for the next request, or cleaned up when
// enough are idle. The options pointing into `t` are cleared (the next request sets them again);
// the header list and body pointers are left, and are always replaced before the next transfer.
void curl_multi_client::impl::give_back_easy(transfer& t) {
  easy_handle h = std::exchange(t.easy, easy_handle{});
  if (!h.easy) return;
  if (idle_easy_.size() >= max_idle_easy_ || closing_) {
    destroy(h);
    return;
  }
  curl_easy_setopt(h.easy, CURLOPT_PRIVATE, nullptr);
  curl_easy_setopt(h.easy, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(h.easy, CURLOPT_WRITEDATA, nullptr);
  curl_easy_setopt(h.easy, CURLOPT_HEADERDATA, nullptr);
  curl_easy_setopt(h.easy, CURLOPT_PREREQDATA, nullptr);
  idle_easy_.push_back(std::move(h));
}

// Runs last in every loop handler, after all curl calls: a handler run inline here may start
// new requests or destroy the client (the caller holds a shared_ptr to this impl).
void curl_multi_client::impl::drain() {
  while (!done_.empty()) {
    auto [t, ec] = std::move(done_.front());
    done_.pop_front();
    complete(std::move(t), ec, nullptr);
  }
}

void curl_multi_client::impl::shutdown() {
  if (!multi_) return;
  closing_ = true;
  ++timer_generation_;
  timer_armed_ = false;
  timer_.cancel();
  for (auto& [id, t] : transfers_) {
    curl_multi_remove_handle(multi_, t->easy.easy);
    done_.emplace_back(std::move(t), http_errc::cancelled);
  }
  transfers_.clear();
  for (auto& h : idle_easy_) destroy(h);
  idle_easy_.clear();
  curl_multi_cleanup(multi_);  // closes pooled connections through on_close
  multi_ = nullptr;
  for (auto& [fd, state] : sockets_) {
    state->closed = true;
    error_code ignored;
    state->socket.close(ignored);
  }
  sockets_.clear();
  while (!done_.empty()) {
    auto [t, ec] = std::move(done_.front());
    done_.pop_front();
    complete(std::move(t), ec, &ex_);
  }
}

curl_multi_client::curl_multi_client(asio::any_io_executor executor, int max_connections)
    : impl_(std::make_shared<impl>(std::move(executor), max_connections)) {}

curl_multi_client::~curl_multi_client() { impl_->shutdown(); }

void curl_multi_client::shutdown() { impl_->shutdown(); }

std::size_t curl_multi_client::in_flight() const { return impl_->transfers_.size(); }

void curl_multi_client::perform_impl(http_request request, handler_type handler) {
  impl_->start(std::move(request), std::move(handler));
}

}  // namespace pigeon::net
