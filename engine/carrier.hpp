#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "engine/http.hpp"
#include "engine/model.hpp"

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
};

// Carrier verdicts on one submission: a closed set, not errors.
struct accepted {
  std::string carrier_id;
};
struct rejected {  // permanent: never resend this message through this carrier
  std::string code;
  std::string text;
  bool recipient_opted_out = false;
};
struct retry_later {  // transient: resend after `after` (0 = the lane's backoff decides)
  std::chrono::milliseconds after{0};
  std::string code;
  std::string text;
};
using submit_verdict = std::variant<accepted, rejected, retry_later>;

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
};

}  // namespace pigeon::engine
