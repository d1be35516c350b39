#include "engine/inbound/webhooks.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/json/serialize.hpp>
#include <cctype>
#include <deque>
#include <iterator>
#include <vector>

#include "engine/store/group_commit.hpp"
#include "engine/model/phone.hpp"
#include "templates/utf8.hpp"

namespace pigeon::engine::inbound {

namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

std::string error_body(std::string_view reason) {
  return boost::json::serialize(boost::json::object{{"error", reason}});
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Why `text` may not be stored ("" when it may): invalid UTF-8 or a NUL byte.
std::string unstorable(std::string_view text) {
  if (auto at = templates::first_invalid_utf8(text))
    return "is not valid UTF-8 (byte " + std::to_string(*at) + ")";
  if (text.find('\0') != std::string_view::npos) return "contains a NUL byte";
  return {};
}

// Checks every field of a codec's events before anything is stored, and puts MO senders in
// E.164. Returns the reason to refuse the webhook (400), or nullopt.
std::optional<std::string> normalize_events(webhook_events& events, const std::string& region) {
  auto check = [](std::string_view what, std::string_view value) -> std::optional<std::string> {
    if (auto why = unstorable(value); !why.empty()) return std::string(what) + " " + why;
    return std::nullopt;
  };
  for (const auto& r : events.receipts) {
    for (auto [what, value] :
         {std::pair{"receipt carrier id", &r.carrier_id}, std::pair{"receipt status", &r.status},
          std::pair{"receipt error code", &r.error_code},
          std::pair{"receipt error text", &r.error_text}})
      if (auto bad = check(what, *value)) return bad;
  }
  for (auto& e : events.inbound) {
    for (auto [what, value] :
         {std::pair{"inbound text", &e.text}, std::pair{"inbound carrier id", &e.carrier_id},
          std::pair{"inbound recipient (to)", &e.to}, std::pair{"inbound sender (from)", &e.from}})
      if (auto bad = check(what, *value)) return bad;
    auto phone = normalize_phone(e.from, region);
    if (phone.e164.empty())
      return "inbound sender (from) '" + mask_phone(e.from) + "' is not a phone number" +
             (phone.error.empty() ? "" : ": " + phone.error);
    remember_inbound_phone(phone.e164, phone.e164);
    e.from = std::move(phone.e164);
  }
  return std::nullopt;
}

}  // namespace

webhook_recorder default_recorder(reply_policy policy) {
  return [policy = std::move(policy)](store& s, const std::string& provider,
                                      const webhook_events& events, time_point now) {
    webhook_summary sum;
    for (const auto& e : events.receipts) {
      receipt r;
      r.provider = provider;
      r.carrier_id = e.carrier_id;
      r.message_id = e.message_id;
      r.state = e.state;
      r.status = e.status;
      r.error_code = e.error_code;
      r.error_text = e.error_text;
      r.at = e.at == time_point{} ? now : e.at;
      r.received_at = now;
      auto effect = s.record_receipt(r);
      ++sum.receipts;
      if (effect == receipt_effect::duplicate) ++sum.duplicate_receipts;
      if (effect == receipt_effect::reconciled) ++sum.reconciled;
    }
    for (const auto& e : events.inbound) {
      auto out = handle_inbound(s, policy, provider, e, now);
      if (out.duplicate) continue;
      ++sum.inbound;
      if (out.reply.action == "opt_out") ++sum.opt_outs;
    }
    return sum;
  };
}

// The webhooks' group commit (engine/store/group_commit.hpp): up to max_webhooks_per_job webhooks per
// store job, each in its own savepoint. Created on the first webhook, on the server's executor.
struct webhook_handler::batcher {
  struct entry {
    std::string provider;
    webhook_events events;
    time_point now;
  };
  using commit = group_commit<entry, webhook_summary>;

  batcher(async_store& s, webhook_recorder r)
      : writer(s), recorder(std::make_shared<const webhook_recorder>(std::move(r))) {}

  commit& on(const asio::any_io_executor& ex) {
    if (!group)
      group = commit::create(writer, ex, max_webhooks_per_job,
                             [recorder = recorder](store& s, std::vector<entry>& items,
                                                   std::vector<webhook_summary>& sums,
                                                   std::vector<std::exception_ptr>& errors) {
                               errors = each_in_savepoint(s, items.size(), [&](std::size_t i) {
                                 sums[i] = (*recorder)(s, items[i].provider, items[i].events,
                                                       items[i].now);
                               });
                             });
    return *group;
  }

  async_store& writer;
  std::shared_ptr<const webhook_recorder> recorder;
  std::shared_ptr<commit> group;
};

webhook_handler::webhook_handler(async_store& store, const clock& clk, codec_map codecs,
                                 std::string public_url, webhook_recorder recorder,
                                 std::string default_region)
    : store_(store),
      clock_(clk),
      codecs_(std::move(codecs)),
      public_url_(std::move(public_url)),
      default_region_(std::move(default_region)),
      batcher_(std::make_shared<batcher>(store, std::move(recorder))) {
  while (!public_url_.empty() && public_url_.back() == '/') public_url_.pop_back();
}

asio::awaitable<net::http_response_t> webhook_handler::operator()(net::http_request_t request) {
  ++stats_.requests;
  std::string target(request.target());
  auto qpos = target.find('?');
  std::string path = target.substr(0, qpos);
  std::string query = qpos == std::string::npos ? "" : target.substr(qpos + 1);

  // /webhooks/{provider}/{status|inbound}
  constexpr std::string_view prefix = "/webhooks/";
  auto slash = path.find('/', prefix.size());
  if (!path.starts_with(prefix) || slash == std::string::npos) {
    ++stats_.not_found;
    co_return net::make_response(request, 404, error_body("no such endpoint: " + path));
  }
  std::string provider = path.substr(prefix.size(), slash - prefix.size());
  std::string what = path.substr(slash + 1);
  webhook_kind kind;
  if (what == "status") {
    kind = webhook_kind::status;
  } else if (what == "inbound") {
    kind = webhook_kind::inbound;
  } else {
    ++stats_.not_found;
    co_return net::make_response(request, 404, error_body("no such endpoint: " + path));
  }
  auto codec = codecs_.find(provider);
  if (codec == codecs_.end()) {
    ++stats_.not_found;
    co_return net::make_response(request, 404, error_body("unknown provider `" + provider + "`"));
  }
  // Kannel calls back with GET; everyone else POSTs.
  if (request.method() != http::verb::post && request.method() != http::verb::get) {
    auto res = net::make_response(request, 405, error_body("use POST (or GET)"));
    res.set(http::field::allow, "POST, GET");
    co_return res;
  }

  webhook_request wr;
  wr.method = std::string(request.method_string());
  wr.url = public_url_ + target;
  wr.path = path;
  wr.query = query;
  for (const auto& field : request)
    wr.headers[lower(std::string(field.name_string()))] = std::string(field.value());
  wr.headers.erase(lower(std::string(net::peer_address_header)));
  wr.remote_address = std::string(request[net::peer_address_header]);
  wr.body = std::move(request.body());
  // Real time, whatever the engine's clock: signatures carry real timestamps (replay windows).
  wr.received_at = system_clock().now();
  auto result = codec->second->parse_webhook(kind, wr);

  if (auto* refused = std::get_if<webhook_refused>(&result)) {
    ++stats_.refused;
    if (refused->security) ++stats_.security_refused;
    refusals_.refused(provider, refused->status, path, refused->reason,
                      std::chrono::steady_clock::now());
    co_return net::make_response(request, static_cast<unsigned>(refused->status),
                                 error_body(refused->reason));
  }
  auto& events = std::get<webhook_events>(result);
  // An MO without a carrier id cannot be told from its replay by its content: the same signed
  // request (target, body, signature headers) within replay_guard::window is refused.
  std::string signed_request;  // set when remembered by replays_
  if (std::any_of(events.inbound.begin(), events.inbound.end(),
                  [](const inbound_event& e) { return e.carrier_id.empty(); })) {
    signed_request = provider + '\n' + wr.method + ' ' + target + '\n' + wr.body;
    for (const auto& [name, value] : wr.headers)
      if (name.find("signature") != std::string::npos ||
          name.find("timestamp") != std::string::npos)
        signed_request += '\n' + name + ": " + value;
    if (!replays_.first_time(signed_request, wr.received_at)) {
      signed_request.clear();
      ++stats_.refused;
      ++stats_.security_refused;
      refusals_.refused(provider, 409, path, "replayed request", std::chrono::steady_clock::now());
      co_return net::make_response(
          request, 409, error_body("replayed request: the same signed request arrived already"));
    }
  }
  // Nothing is stored as received: text fields must be UTF-8 without NUL bytes and an MO's
  // sender a phone number, stored in E.164 (parsed here rather than on the store's writer
  // thread, the bottleneck).
  if (auto bad = normalize_events(events, default_region_)) {
    ++stats_.refused;
    refusals_.refused(provider, 400, path, *bad, std::chrono::steady_clock::now());
    co_return net::make_response(request, 400, error_body(*bad));
  }
  std::string reply_body = std::move(events.reply_body);
  std::string reply_content_type = std::move(events.reply_content_type);
  auto executor = co_await asio::this_coro::executor;
  batcher::entry entry{std::move(provider), std::move(events), clock_.now()};
  auto op = batcher_->on(executor).async_submit(std::move(entry), asio::use_awaitable);
  std::exception_ptr failure;
  webhook_summary sum;
  try {
    sum = co_await std::move(op);
  } catch (const std::exception& e) {
    failure = std::current_exception();
    spdlog::error("webhook {}: could not record events: {}", path, e.what());
  }
  if (failure) {
    ++stats_.store_failures;
    if (!signed_request.empty()) replays_.forget(signed_request);
    co_return net::make_response(request, 503,
                                 error_body("could not record the events; try again"));
  }
  stats_.receipts += sum.receipts;
  stats_.duplicate_receipts += sum.duplicate_receipts;
  stats_.reconciled += sum.reconciled;
  stats_.inbound += sum.inbound;
  stats_.opt_outs += sum.opt_outs;
  ++stats_.accepted;
  if (reply_body.empty()) co_return net::make_response(request, 200, "", "text/plain");
  co_return net::make_response(request, 200, std::move(reply_body),
                               reply_content_type.empty() ? "text/plain" : reply_content_type);
}

}  // namespace pigeon::engine::inbound
