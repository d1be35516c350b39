#include "engine/net/carrier_simulator.hpp"

#include <fcntl.h>
#include <openssl/hmac.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/json.hpp>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <optional>
#include <random>
#include <stdexcept>
#include <system_error>

#include "engine/net/curl_multi_client.hpp"
#include "engine/net/http_server.hpp"
#include "engine/net/simulator_media.hpp"

namespace pigeon::engine::net {

namespace asio = boost::asio;
namespace json = boost::json;
using asio::ip::tcp;

simulator_fault parse_simulator_fault(std::string_view name) {
  if (name == "5xx") return simulator_fault::http_5xx;
  if (name == "429") return simulator_fault::http_429;
  if (name == "timeout") return simulator_fault::timeout;
  if (name == "reset") return simulator_fault::reset;
  throw std::invalid_argument("unknown simulator fault '" + std::string(name) +
                              "' (expected 5xx, 429, timeout or reset)");
}

std::string_view to_string(simulator_fault fault) {
  switch (fault) {
    case simulator_fault::http_5xx:
      return "5xx";
    case simulator_fault::http_429:
      return "429";
    case simulator_fault::timeout:
      return "timeout";
    case simulator_fault::reset:
      return "reset";
  }
  return "?";
}

namespace {

std::string utc_now_iso() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t secs = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[80];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

// application/x-www-form-urlencoded (or a query string): name -> value, first occurrence wins.
json::object parse_form(std::string_view body) {
  json::object fields;
  while (!body.empty()) {
    const auto amp = body.find('&');
    const auto pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view{} : body.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    auto name = form_decode(pair.substr(0, eq));
    auto value = eq == std::string_view::npos ? std::string{} : form_decode(pair.substr(eq + 1));
    if (!fields.contains(name)) fields[name] = value;
  }
  return fields;
}

std::string field(const json::object& o, std::string_view name) {
  const auto* v = o.if_contains(name);
  if (!v || v->is_null()) return {};
  if (v->is_string()) return std::string(v->get_string());
  return json::serialize(*v);  // numbers and booleans as written ("ref": 42)
}

json::object to_json(const simulator_submission& s) {
  json::array media;
  for (const auto& m : s.media) media.push_back(to_json(m));
  return {{"seq", s.seq},
          {"at", s.at},
          {"path", s.path},
          {"to", s.to},
          {"from", s.from},
          {"text", s.text},
          {"ref", s.ref},
          {"kind", s.kind},
          {"status", s.status},
          {"id", s.id},
          {"fault", s.fault},
          {"body", s.body},
          {"media", std::move(media)}};
}

// X-Timestamp / X-Signature for a webhook body: hex(HMAC-SHA256(secret, timestamp "." body)).
void sign(engine::http_request& request, const std::string& secret) {
  if (secret.empty()) return;
  const auto ts = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  const std::string data = ts + "." + request.body;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  static constexpr char digits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned i = 0; i < len; ++i) {
    hex += digits[mac[i] >> 4];
    hex += digits[mac[i] & 15];
  }
  request.headers.emplace_back("X-Timestamp", ts);
  request.headers.emplace_back("X-Signature", hex);
}

engine::http_request webhook_post(std::string url, std::string body, const std::string& secret) {
  engine::http_request request;
  request.method = "POST";
  request.url = std::move(url);
  request.headers = {{"Content-Type", "application/json"}};
  request.body = std::move(body);
  request.timeout = std::chrono::seconds(5);
  sign(request, secret);
  return request;
}

bool valid_dlr_mode(std::string_view mode) {
  return mode == "delivered" || mode == "undelivered" || mode == "none";
}

// Delivery reports in flight at once, at most.
constexpr std::uint64_t max_pending_dlrs = 1000;

}  // namespace

struct carrier_simulator::impl {
  explicit impl(simulator_options o) : options(std::move(o)), rng(options.seed) {
    if (!options.record_path.empty()) {
      record_fd =
          ::open(options.record_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (record_fd < 0)
        throw std::system_error(errno, std::generic_category(), options.record_path);
    }
  }
  ~impl() {
    if (record_fd >= 0) ::close(record_fd);
  }

  static asio::awaitable<http_response_t> handle(std::shared_ptr<impl> self, http_request_t req);
  static asio::awaitable<http_response_t> submit(std::shared_ptr<impl> self, http_request_t req,
                                                 std::string path);
  static asio::awaitable<http_response_t> inbound(std::shared_ptr<impl> self, http_request_t req);
  static asio::awaitable<std::vector<simulator_media>> fetch_media(std::weak_ptr<impl> weak,
                                                                   std::vector<std::string> urls);
  static asio::awaitable<void> send_dlr(std::weak_ptr<impl> weak, engine::http_request request,
                                        std::chrono::milliseconds delay);
  http_response_t control(const http_request_t& req);
  std::optional<simulator_fault> draw_fault();
  void record(const simulator_submission& s);
  json::object settings() const;

  simulator_options options;
  std::mt19937_64 rng;
  int record_fd = -1;
  simulator_stats stats;
  std::vector<simulator_submission> submissions;
  std::optional<http_server> server;
  std::optional<asio::any_io_executor> executor;
  std::unique_ptr<curl_multi_client> client;  // for DLRs and MOs; made on first use
  std::uint64_t pending_dlrs = 0;
  std::uint64_t mo_seq = 0;
  bool stopped = false;

  curl_multi_client& http() {
    if (!client) client = std::make_unique<curl_multi_client>(*executor, 4);
    return *client;
  }
};

asio::awaitable<void> carrier_simulator::impl::send_dlr(std::weak_ptr<impl> weak,
                                                        engine::http_request request,
                                                        std::chrono::milliseconds delay) {
  if (delay.count() > 0) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer.expires_after(delay);
    auto wait = timer.async_wait(asio::as_tuple(asio::use_awaitable));
    co_await std::move(wait);
  }
  auto self = weak.lock();
  if (!self || self->stopped) co_return;
  // The client completes (with cancelled) when the simulator stops; the frame then holds no
  // reference to it.
  auto& client = self->http();
  self.reset();
  auto op = client.async_perform(std::move(request), asio::as_tuple(asio::use_awaitable));
  auto [ec, response] = co_await std::move(op);
  self = weak.lock();
  if (!self) co_return;
  --self->pending_dlrs;
  if (!ec && response.status >= 200 && response.status <= 299)
    ++self->stats.dlrs_sent;
  else
    ++self->stats.dlrs_failed;
}

asio::awaitable<std::vector<simulator_media>> carrier_simulator::impl::fetch_media(
    std::weak_ptr<impl> weak, std::vector<std::string> urls) {
  std::vector<simulator_media> out;
  for (auto& url : urls) {
    if (out.size() >= max_simulator_media) {
      out.push_back({std::move(url), 0, -1, {}, {}, "not fetched: more than 10 media"});
      continue;
    }
    if (!loopback_http_url(url)) {
      out.push_back({std::move(url), 0, -1, {}, {}, "not fetched: not a loopback http URL"});
      continue;
    }
    // As in send_dlr: the frame holds no reference to the simulator while it waits.
    auto self = weak.lock();
    if (!self || self->stopped) break;
    auto& client = self->http();
    self.reset();
    engine::http_request get;
    get.method = "GET";
    get.url = url;
    get.timeout = std::chrono::seconds(5);
    auto op = client.async_perform(std::move(get), asio::as_tuple(asio::use_awaitable));
    auto [ec, response] = co_await std::move(op);
    out.push_back(fetched_media(std::move(url), ec, response));
  }
  co_return out;
}

asio::awaitable<http_response_t> carrier_simulator::impl::inbound(std::shared_ptr<impl> self,
                                                                  http_request_t req) {
  if (self->options.inbound_url.empty())
    co_return make_response(req, 409, R"({"code":"409","message":"no inbound_url is configured"})");
  boost::system::error_code ec;
  auto parsed = json::parse(req.body(), ec);
  if (ec || !parsed.is_object())
    co_return make_response(req, 400, R"({"code":"400","message":"expected a JSON object"})");
  const auto& o = parsed.get_object();
  const auto from = field(o, "from"), to = field(o, "to"), text = field(o, "text");
  if (from.empty())
    co_return make_response(req, 400, R"({"code":"400","message":"'from' is required"})");
  const std::string id = "SIM-MO-" + std::to_string(++self->mo_seq);
  json::object mo{{"id", id}, {"from", from}, {"to", to}, {"text", text}};
  auto request =
      webhook_post(self->options.inbound_url, json::serialize(mo), self->options.webhook_secret);
  std::weak_ptr<impl> weak = self;
  auto& client = self->http();
  self.reset();
  auto op = client.async_perform(std::move(request), asio::as_tuple(asio::use_awaitable));
  auto [perform_ec, response] = co_await std::move(op);
  if (perform_ec) {
    json::object body{{"code", "502"}, {"message", perform_ec.message()}, {"id", id}};
    co_return make_response(req, 502, json::serialize(body));
  }
  if (auto again = weak.lock(); again && response.status >= 200 && response.status <= 299)
    ++again->stats.mos_sent;
  json::object body{{"id", id}, {"status", response.status}};
  co_return make_response(req, 200, json::serialize(body));
}

std::optional<simulator_fault> carrier_simulator::impl::draw_fault() {
  // One draw per submission whatever the settings, so a run is reproducible from the seed.
  const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
  const auto pick = rng();
  if (u >= options.fail_rate || options.faults.empty()) return std::nullopt;
  return options.faults[pick % options.faults.size()];
}

void carrier_simulator::impl::record(const simulator_submission& s) {
  submissions.push_back(s);
  if (record_fd < 0) return;
  // One write(2) per line on an O_APPEND fd: nothing sits in a user-space buffer.
  const std::string line = json::serialize(to_json(s)) + "\n";
  if (::write(record_fd, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
    std::fprintf(stderr, "simulate-carrier: cannot append to %s\n", options.record_path.c_str());
}

json::object carrier_simulator::impl::settings() const {
  json::array faults;
  for (auto f : options.faults) faults.emplace_back(to_string(f));
  return {
      {"fail_rate", options.fail_rate},           {"faults", std::move(faults)},
      {"latency_ms", options.latency.count()},    {"retry_after_s", options.retry_after.count()},
      {"reject_prefix", options.reject_prefix},   {"dlr", options.dlr},
      {"dlr_delay_ms", options.dlr_delay.count()}};
}

http_response_t carrier_simulator::impl::control(const http_request_t& req) {
  boost::system::error_code ec;
  auto parsed = json::parse(req.body(), ec);
  if (ec || !parsed.is_object())
    return make_response(req, 400, R"({"code":"400","message":"expected a JSON object"})");
  const auto& o = parsed.get_object();
  simulator_options next = options;
  try {
    if (auto* v = o.if_contains("fail_rate")) next.fail_rate = v->to_number<double>();
    if (auto* v = o.if_contains("latency_ms"))
      next.latency = std::chrono::milliseconds(v->to_number<std::int64_t>());
    if (auto* v = o.if_contains("retry_after_s"))
      next.retry_after = std::chrono::seconds(v->to_number<std::int64_t>());
    if (auto* v = o.if_contains("reject_prefix")) next.reject_prefix = v->as_string().c_str();
    if (auto* v = o.if_contains("dlr")) next.dlr = v->as_string().c_str();
    if (auto* v = o.if_contains("dlr_delay_ms"))
      next.dlr_delay = std::chrono::milliseconds(v->to_number<std::int64_t>());
    if (auto* v = o.if_contains("faults")) {
      next.faults.clear();
      for (const auto& f : v->as_array())
        next.faults.push_back(parse_simulator_fault(f.as_string()));
    }
  } catch (const std::exception& e) {
    json::object body{{"code", "400"}, {"message", e.what()}};
    return make_response(req, 400, json::serialize(body));
  }
  if (!valid_dlr_mode(next.dlr))
    return make_response(
        req, 400, R"({"code":"400","message":"dlr must be delivered, undelivered or none"})");
  if (next.fail_rate < 0 || next.fail_rate > 1 || next.latency.count() < 0 ||
      next.dlr_delay.count() < 0)
    return make_response(req, 400, R"({"code":"400","message":"out of range"})");
  options = std::move(next);
  return make_response(req, 200, json::serialize(settings()));
}

asio::awaitable<http_response_t> carrier_simulator::impl::handle(std::shared_ptr<impl> self,
                                                                 http_request_t req) {
  if (!self) co_return make_response(req, 503, R"({"code":"503","message":"shutting down"})");
  const std::string_view target = req.target();
  const std::string path(target.substr(0, target.find('?')));
  namespace http = boost::beast::http;

  if (req.method() == http::verb::get && path == "/_submissions") {
    json::array all;
    for (const auto& s : self->submissions) all.push_back(to_json(s));
    co_return make_response(req, 200, json::serialize(all));
  }
  if (req.method() == http::verb::get && path == "/_stats") {
    const auto& st = self->stats;
    json::object o{{"received", st.received},   {"accepted", st.accepted},
                   {"rejected", st.rejected},   {"faults", st.faults},
                   {"dlrs_sent", st.dlrs_sent}, {"dlrs_failed", st.dlrs_failed},
                   {"mos_sent", st.mos_sent}};
    co_return make_response(req, 200, json::serialize(o));
  }
  if (req.method() == http::verb::post && path == "/_control") co_return self->control(req);
  if (req.method() == http::verb::post && path == "/_mo")
    co_return co_await inbound(std::move(self), std::move(req));
  if (req.method() != http::verb::post || path.starts_with("/_"))
    co_return make_response(req, 404, R"({"code":"404","message":"not found"})");
  co_return co_await submit(std::move(self), std::move(req), path);
}

asio::awaitable<http_response_t> carrier_simulator::impl::submit(std::shared_ptr<impl> self,
                                                                 http_request_t req,
                                                                 std::string path) {
  namespace http = boost::beast::http;
  simulator_submission s;
  s.seq = ++self->stats.received;
  s.at = utc_now_iso();
  s.path = path;
  if (path != "/messages") s.body = req.body();

  json::object fields;
  const std::string_view content_type = req[http::field::content_type];
  boost::system::error_code ec;
  // JSON first whatever the content type says (`curl -d` labels JSON as a form), then a form.
  if (auto v = json::parse(req.body(), ec); !ec && v.is_object()) {
    fields = std::move(v.get_object());
  } else if (content_type.starts_with("application/x-www-form-urlencoded") ||
             req.body().find('=') != std::string::npos) {
    fields = parse_form(req.body());
  }
  if (auto q = req.target().find('?'); q != std::string_view::npos)
    for (auto& [k, v] : parse_form(req.target().substr(q + 1)))
      if (!fields.contains(k)) fields[k] = v;
  s.to = field(fields, "to");
  s.from = field(fields, "from");
  s.text = field(fields, "text");
  s.ref = field(fields, "ref");
  s.kind = field(fields, "kind");
  if (s.kind.empty()) s.kind = "sms";

  const auto& o = self->options;
  http_response_t res;
  const auto fault = self->draw_fault();
  if (fault) {
    ++self->stats.faults;
    s.fault = to_string(*fault);
    switch (*fault) {
      case simulator_fault::http_5xx:
        s.status = 503;
        res = make_response(req, 503, R"({"code":"503","message":"service unavailable"})");
        break;
      case simulator_fault::http_429:
        s.status = 429;
        res = make_response(req, 429, R"({"code":"20429","message":"too many requests"})");
        res.set(http::field::retry_after, std::to_string(o.retry_after.count()));
        break;
      case simulator_fault::timeout:
      case simulator_fault::reset:
        break;
    }
  } else if (path == "/messages" && (s.to.empty() || s.text.empty())) {
    ++self->stats.rejected;
    s.status = 400;
    res = make_response(req, 400, R"({"code":"21604","message":"'to' and 'text' are required"})");
  } else if (!o.reject_prefix.empty() && s.to.starts_with(o.reject_prefix)) {
    ++self->stats.rejected;
    s.status = 400;
    res = make_response(req, 400, R"({"code":"21211","message":"invalid 'To' phone number"})");
  } else {
    ++self->stats.accepted;
    s.status = 201;
    s.id = "SIM-" + std::to_string(s.seq);
    json::object body{{"id", s.id}, {"message_id", s.id}, {"status", "accepted"}};
    res = make_response(req, 201, json::serialize(body));
  }
  if (s.status == 201) {
    // Like a carrier, fetch the MMS's parts before taking it.
    auto urls = submission_media_urls(fields, req.body());
    if (!urls.empty()) {
      std::weak_ptr<impl> weak = self;
      self.reset();
      s.media = co_await fetch_media(weak, std::move(urls));
      self = weak.lock();
      if (!self || self->stopped) throw drop_connection();
    }
  }
  const auto& o2 = self->options;
  if (s.status == 201) {
    auto callback = field(fields, "status_callback");
    if (callback.empty()) callback = o2.status_callback_url;
    if (!callback.empty() && o2.dlr != "none") {
      if (self->pending_dlrs >= max_pending_dlrs) {
        ++self->stats.dlrs_failed;
      } else {
        ++self->pending_dlrs;
        json::object dlr{{"id", s.id}, {"ref", s.ref}, {"status", o2.dlr}};
        if (o2.dlr == "undelivered") dlr["error_code"] = "30003";
        auto request = webhook_post(std::move(callback), json::serialize(dlr), o2.webhook_secret);
        auto task = send_dlr(self, std::move(request), o2.dlr_delay);
        asio::co_spawn(*self->executor, std::move(task), [](std::exception_ptr e) {
          log_coroutine_exception("simulate-carrier delivery report", e);
        });
      }
    }
  }
  const auto latency = o2.latency;
  const auto hold = o2.hold;
  self->record(s);
  self.reset();  // do not keep the simulator alive across the waits below

  asio::steady_timer timer(co_await asio::this_coro::executor);
  if (latency.count() > 0) {
    timer.expires_after(latency);
    co_await timer.async_wait(asio::use_awaitable);
  }
  if (fault == simulator_fault::timeout) {
    timer.expires_after(hold);  // the client gives up long before; stop() cancels this wait
    co_await timer.async_wait(asio::use_awaitable);
    throw drop_connection();
  }
  if (fault == simulator_fault::reset) throw drop_connection();
  co_return res;
}

carrier_simulator::carrier_simulator(asio::any_io_executor executor, simulator_options options)
    : impl_(std::make_shared<impl>(std::move(options))) {
  if (!valid_dlr_mode(impl_->options.dlr))
    throw std::invalid_argument("simulator dlr must be delivered, undelivered or none, not '" +
                                impl_->options.dlr + "'");
  impl_->executor = executor;
  // The handler holds the simulator weakly: the server lives inside it (no ownership cycle).
  server_options so;
  so.body_limit = impl_->options.body_limit;
  so.name = "simulate-carrier";
  impl_->server.emplace(
      std::move(executor),
      [weak = std::weak_ptr<impl>(impl_)](http_request_t req) {
        return impl::handle(weak.lock(), std::move(req));
      },
      std::move(so));
}

carrier_simulator::~carrier_simulator() { stop(); }

std::uint16_t carrier_simulator::start(const tcp::endpoint& endpoint) {
  return impl_->server->start(endpoint);
}

void carrier_simulator::stop() {
  impl_->stopped = true;
  impl_->server->stop();
  if (impl_->client) impl_->client->shutdown();
}

simulator_stats carrier_simulator::stats() const { return impl_->stats; }

std::vector<simulator_submission> carrier_simulator::submissions() const {
  return impl_->submissions;
}

int run_simulate_carrier_main(simulator_options options, std::uint16_t port) {
  try {
    asio::io_context io;
    carrier_simulator simulator(io.get_executor(), std::move(options));
    const auto bound = simulator.start(tcp::endpoint(asio::ip::address_v4::loopback(), port));
    std::cout << "simulate-carrier listening on 127.0.0.1:" << bound << std::endl;
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code, int) {
      simulator.stop();
      io.stop();
    });
    io.run();
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "simulate-carrier: " << e.what() << std::endl;
    return 1;
  }
}

}  // namespace pigeon::engine::net
