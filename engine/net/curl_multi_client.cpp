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

#include "engine/net/curl_easy.hpp"

namespace pigeon::engine::net {

namespace asio = boost::asio;
using boost::system::error_code;
using engine::http_errc;
using engine::http_request;
using engine::http_response;
using handler_type = asio::any_completion_handler<void(error_code, http_response)>;
using completion_work = asio::executor_work_guard<asio::any_completion_executor>;

namespace {

using curl::easy_handle;
using curl::header_block;

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

}  // namespace

struct curl_multi_client::impl : std::enable_shared_from_this<impl> {
  impl(asio::any_io_executor ex, int max_connections) : ex_(ex), timer_(ex) {
    curl::global_init_once();
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
    direct_ = curl::no_proxy_in_environment();
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
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &t->response);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &t->response);
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
      ec = curl::map_curl_error(result);
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
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &curl::on_body);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &curl::on_header);
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

}  // namespace pigeon::engine::net
