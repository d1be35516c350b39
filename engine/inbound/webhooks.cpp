#include "engine/inbound/webhooks.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/json/serialize.hpp>
#include <cctype>

namespace pigeon::engine {

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

webhook_handler::webhook_handler(async_store& store, const clock& clk, codec_map codecs,
                                 std::string public_url, webhook_recorder recorder)
    : store_(store),
      clock_(clk),
      codecs_(std::move(codecs)),
      public_url_(std::move(public_url)),
      recorder_(std::move(recorder)) {
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
  wr.body = request.body();
  // Real time, whatever the engine's clock: signatures carry real timestamps (replay windows).
  wr.received_at = system_clock().now();
  auto result = codec->second->parse_webhook(kind, wr);

  if (auto* refused = std::get_if<webhook_refused>(&result)) {
    ++stats_.refused;
    if (refused->security) {
      ++stats_.security_refused;
      spdlog::warn("webhook {} refused ({}): {}", path, refused->status, refused->reason);
    }
    co_return net::make_response(request, static_cast<unsigned>(refused->status),
                                 error_body(refused->reason));
  }
  auto events = std::get<webhook_events>(std::move(result));
  std::function<webhook_summary(store&)> job = [recorder = recorder_, provider, events,
                                                now = clock_.now()](store& s) {
    return recorder(s, provider, events, now);
  };
  std::exception_ptr failure;
  webhook_summary sum;
  try {
    auto op = store_.async_run<webhook_summary>(std::move(job), asio::use_awaitable);
    sum = co_await std::move(op);
  } catch (const std::exception& e) {
    failure = std::current_exception();
    spdlog::error("webhook {}: could not record events: {}", path, e.what());
  }
  if (failure) {
    ++stats_.store_failures;
    co_return net::make_response(request, 503,
                                 error_body("could not record the events; try again"));
  }
  stats_.receipts += sum.receipts;
  stats_.duplicate_receipts += sum.duplicate_receipts;
  stats_.reconciled += sum.reconciled;
  stats_.inbound += sum.inbound;
  stats_.opt_outs += sum.opt_outs;
  ++stats_.accepted;
  if (events.reply_body.empty()) {
    auto res = net::make_response(request, 200, "", "text/plain");
    co_return res;
  }
  co_return net::make_response(
      request, 200, events.reply_body,
      events.reply_content_type.empty() ? "text/plain" : events.reply_content_type);
}

}  // namespace pigeon::engine
