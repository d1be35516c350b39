#pragma once

// carrier_simulator: an HTTP carrier for demos and tests, behind `pigeon simulate-carrier` and
// `kind: simulator` providers. It records every submission and injects faults.
//
// Wire format (the simulator codec depends on it exactly):
//   POST /messages, JSON {"to","from","text","ref","kind","subject","media"} (to, text required)
//     -> 201 {"id":"SIM-<n>","message_id":"SIM-<n>","status":"accepted"}
//   POST <any other path>: a generic-http gateway; JSON or form body, to/from/text/ref picked up
//     if present, the raw body recorded; same answers.
//   Faults, drawn per submission with probability fail_rate from `faults`: "5xx" -> 503
//     {"code":"503",...}; "429" -> 429 + Retry-After {"code":"20429",...}; "timeout" -> no
//     answer, connection held for `hold` then closed; "reset" -> connection reset, no answer.
//   reject_prefix: a `to` starting with it gets 400 {"code":"21211",...}.
//   GET /_submissions (JSON array of records), GET /_stats {"received","accepted","faults",...},
//   POST /_control {"fail_rate","faults","latency_ms","retry_after_s","reject_prefix","dlr",
//   "dlr_delay_ms"} changes fault injection and delivery reports at runtime.
// Delivery reports: after answering 201 to a submission whose JSON has "status_callback" (else
//   options.status_callback_url, if set), and unless dlr is "none", the simulator POSTs
//   {"id":"SIM-<n>","ref":"<ref>","status":"delivered"|"undelivered"[,"error_code":"30003"]}
//   (Content-Type: application/json) to that URL after dlr_delay. One attempt, 5 s timeout; at
//   most 1000 reports in flight, further ones are dropped and counted.
// Inbound messages: POST /_mo {"from","to","text"} makes the simulator POST
//   {"id":"SIM-MO-<n>","from","to","text"} to options.inbound_url and answer 200
//   {"id","status":<the status pigeon answered>} (502 when pigeon could not be reached, 409
//   without an inbound_url).
// Media: an accepted submission's media URLs (the JSON "media" array, or every form field
//   "MediaUrl" as Twilio posts them) are fetched with GET before the answer, as a carrier
//   fetches an MMS's parts: loopback http URLs only (127.0.0.0/8, localhost, [::1]), at most
//   10 per submission, 5 s and 64 MiB each (the client's cap); each is recorded as
//   {"url","status","bytes","sha256","content_type","error"} (error: why it was not fetched,
//   or the transport failure).
// Signing: with webhook_secret set, both carry X-Timestamp (Unix seconds) and X-Signature
//   (hex HMAC-SHA256(secret, timestamp "." body)), the scheme the simulator codec checks.
// Records: one JSON object per submission {"seq","at","path","to","from","text","ref","status",
// "id","fault","kind","body","media"} (status: the HTTP status answered, 0 for timeout/reset;
// fault: "" or the fault name; body: the raw body of generic-gateway posts, else ""), kept in
// memory and, with record_path, appended to a file one line per write(2), so the file is complete
// even if the process is killed. Determinism: fault draws come from a PRNG seeded with `seed`, one
// draw per submission in arrival order.
//
// Threading: everything, including stats() and submissions(), on the executor's io_context
// thread. Lifetime: stop() (also run by the destructor) closes the listener and cancels held
// connections. Failure: the constructor throws std::system_error if record_path cannot be
// opened; start() throws std::runtime_error if it cannot bind.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace pigeon::engine::net {

enum class simulator_fault { http_5xx, http_429, timeout, reset };

// "5xx", "429", "timeout", "reset"; throws std::invalid_argument for anything else.
simulator_fault parse_simulator_fault(std::string_view name);
std::string_view to_string(simulator_fault fault);

struct simulator_options {
  std::chrono::milliseconds latency{0};  // fixed delay before every answer
  double fail_rate = 0.0;                // 0..1: fraction of submissions given a fault
  std::vector<simulator_fault> faults{simulator_fault::http_5xx};  // mix drawn from uniformly
  std::chrono::seconds retry_after{1};                             // Retry-After of a 429
  std::string reject_prefix;                                       // empty: reject nothing
  std::uint64_t seed = 1;
  std::string record_path;        // empty: in memory only
  std::chrono::seconds hold{60};  // how long a "timeout" fault holds a connection
  std::size_t body_limit = 1024 * 1024;
  std::string status_callback_url;  // DLRs for submissions that name no "status_callback"
  std::string dlr = "delivered";    // delivered | undelivered | none
  std::chrono::milliseconds dlr_delay{0};
  std::string inbound_url;     // where POST /_mo sends inbound messages; empty: /_mo refused
  std::string webhook_secret;  // signs DLRs and MOs when set
};

struct simulator_stats {
  std::uint64_t received = 0;     // submissions
  std::uint64_t accepted = 0;     // answered 201
  std::uint64_t rejected = 0;     // answered 400
  std::uint64_t faults = 0;       // injected faults
  std::uint64_t dlrs_sent = 0;    // delivery reports answered 2xx
  std::uint64_t dlrs_failed = 0;  // delivery reports refused, unanswered or dropped
  std::uint64_t mos_sent = 0;     // inbound messages answered 2xx
};

// One media URL of a submission, as the simulator fetched it.
struct simulator_media {
  std::string url;
  int status = 0;        // HTTP status; 0 when not fetched or the transfer failed
  long long bytes = -1;  // body bytes received
  std::string sha256;    // hex, of the body
  std::string content_type;
  std::string error;  // why it was not fetched, or the transport failure
};

struct simulator_submission {
  std::uint64_t seq = 0;
  std::string at;  // UTC, ISO 8601 with milliseconds
  std::string path, to, from, text, ref, kind;
  int status = 0;
  std::string id;                      // SIM-<seq> when accepted
  std::string fault;                   // "" or the fault name
  std::string body;                    // the raw request body, for paths other than /messages
  std::vector<simulator_media> media;  // accepted submissions with media URLs
};

class carrier_simulator {
 public:
  carrier_simulator(boost::asio::any_io_executor executor, simulator_options options);
  ~carrier_simulator();

  carrier_simulator(const carrier_simulator&) = delete;
  carrier_simulator& operator=(const carrier_simulator&) = delete;

  // Binds and serves; returns the bound port (port 0 picks an ephemeral one).
  std::uint16_t start(const boost::asio::ip::tcp::endpoint& endpoint);
  void stop();

  simulator_stats stats() const;
  std::vector<simulator_submission> submissions() const;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

// `pigeon simulate-carrier`: serves on 127.0.0.1:port, prints
// "simulate-carrier listening on 127.0.0.1:<port>" once bound, returns 0 on SIGINT/SIGTERM
// (1 if it cannot bind or open the record file).
int run_simulate_carrier_main(simulator_options options, std::uint16_t port);

}  // namespace pigeon::engine::net
