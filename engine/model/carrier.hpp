#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "engine/model/http.hpp"
#include "engine/model/model.hpp"

namespace pigeon::engine {

// What a carrier is asked to send.
struct outbound_message {
  std::int64_t id = 0;             // pigeon's message id, echoed back in status callbacks
  std::string to;                  // E.164
  std::string text;                // rendered, signature and hints included
  std::string kind = "sms";        // sms | mms
  std::string subject;             // mms
  std::vector<std::string> media;  // mms: URLs
  std::optional<time_point> expires;
  std::string status_callback_url;  // where the carrier should report delivery, or empty
  // The dispatcher's clock when it builds the request. Codecs read no clock; those that send a
  // relative validity (Twilio ValidityPeriod, Kannel validity) derive it from expires - now and
  // leave it out when either is unset.
  std::optional<time_point> now;
};

// Whose fault a refusal is. Only carrier faults (transport errors, 5xx, 429, authentication)
// count towards a provider's circuit breaker and justify failover to the next route; a
// recipient fault (bad number, opted out, content refused) never does.
enum class fault { recipient, carrier };

// Carrier verdicts on one submission: a closed set, not errors.
struct accepted {
  std::string carrier_id;
};
struct rejected {  // permanent: never resend this message through this carrier
  std::string code;
  std::string text;
  bool recipient_opted_out = false;
  fault blame = fault::recipient;
};
struct retry_later {  // transient: resend after `after` (0 = the lane's backoff decides)
  std::chrono::milliseconds after{0};
  std::string code;
  std::string text;
  fault blame = fault::carrier;
};
using submit_verdict = std::variant<accepted, rejected, retry_later>;

// --- webhooks: what carriers send back, mapped onto one neutral model -------------------------

// A request a carrier made to `/webhooks/{provider}/{status|inbound}`, as the codec sees it.
struct webhook_request {
  std::string method;                          // GET | POST
  std::string url;                             // public_url + target: what the carrier signed
  std::string path;                            // target without the query
  std::string query;                           // raw, without '?'
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string remote_address;  // the peer's IP address
  time_point received_at{};
};

// A delivery report, in lifecycle terms.
struct delivery_event {
  std::string carrier_id;       // the carrier's id for the message, when reported
  std::int64_t message_id = 0;  // pigeon's id, when the callback carries it (0 = unknown)
  message_state state = message_state::submitted;  // submitted | delivered | undelivered | failed
  std::string status;                              // the carrier's own word, kept for ops
  std::string error_code;
  std::string error_text;
  time_point at{};
};

// A message from a recipient (MO).
struct inbound_event {
  std::string from;  // the recipient's number (E.164 when the carrier gives it so)
  std::string to;    // pigeon's sender number or short code
  std::string text;
  std::string carrier_id;
  time_point at{};
};

struct webhook_events {
  std::vector<delivery_event> receipts;
  std::vector<inbound_event> inbound;
  // What to answer the carrier with once the events are durable (e.g. an empty TwiML
  // `<Response/>`); empty body = 200 with no content.
  std::string reply_content_type;
  std::string reply_body;
};
// The request is refused and nothing in it is processed: 400 malformed, 403 bad or missing
// signature / address not allowed (security = true), 404 this provider takes no such webhook.
struct webhook_refused {
  int status = 400;
  std::string reason;
  bool security = false;
};
using webhook_result = std::variant<webhook_events, webhook_refused>;
enum class webhook_kind { status, inbound };

// A carrier dialect: turns a message into an HTTP request and the carrier's reply into a
// verdict. The engine owns this interface; providers/ implement it, one file per dialect.
//
// A codec MUST:
//   - be a pure function of its config and inputs: no sockets, no clock, no global state;
//   - classify every reply: 2xx with an id is `accepted`; a reply that says the message can
//     never go (bad number, opted out, content refused) is `rejected`; throttling and other
//     transient refusals are `retry_later`;
//   - validate its own config keys when made, rejecting unknown ones with their file:line:col.
// A codec MAY NOT:
//   - block, alter the outbound message, or keep per-message state between calls;
//   - treat a 5xx or a reply it cannot parse as `accepted`.
// Methods are const and may be called from any thread.
class carrier_codec {
 public:
  virtual ~carrier_codec() = default;

  virtual std::string_view kind() const = 0;
  virtual http_request build_submit(const outbound_message& message) const = 0;
  virtual submit_verdict parse_submit_reply(const http_response& response) const = 0;

  // The verdict on `message`'s reply. Carriers whose reply names no id (Kannel) derive the
  // carrier id from the message; the default ignores it. The dispatcher should call this one.
  virtual submit_verdict parse_submit_reply_for(const outbound_message& message,
                                                const http_response& response) const {
    (void)message;
    return parse_submit_reply(response);
  }

  // A message this carrier can never take (e.g. more media than it allows), refused before any
  // request is built; nullopt = go ahead. The default takes everything.
  virtual std::optional<rejected> refuse(const outbound_message& message) const {
    (void)message;
    return std::nullopt;
  }

  // Batch mode, for gateways that take several messages in one request. max_batch() > 1 means
  // the dispatcher MAY call build_submit_batch with up to that many messages of one lane, and
  // parse_submit_batch_reply MUST return one verdict per message, in order (a reply that cannot
  // be split gives every message the same verdict). The defaults: no batching.
  virtual std::size_t max_batch() const { return 1; }
  virtual http_request build_submit_batch(std::span<const outbound_message> messages) const {
    return build_submit(messages.front());
  }
  virtual std::vector<submit_verdict> parse_submit_batch_reply(const http_response& response,
                                                               std::size_t count) const {
    return std::vector<submit_verdict>(count, parse_submit_reply(response));
  }

  // Verifies a webhook's authenticity (signature, token, source address) FIRST, then parses it
  // into neutral events. MUST NOT return events from a request whose authenticity it cannot
  // establish. The default refuses with 404: the provider takes no webhooks.
  virtual webhook_result parse_webhook(webhook_kind kind, const webhook_request& request) const {
    (void)kind;
    (void)request;
    return webhook_refused{404, std::string(this->kind()) + " takes no webhooks", false};
  }
};

}  // namespace pigeon::engine
