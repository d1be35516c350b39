// pigeon segments TEXT, pigeon simulate-carrier --port N
#include <boost/json.hpp>
#include <cstdlib>
#include <iostream>

#include "engine/cli/commands.hpp"
#include "engine/net/carrier_simulator.hpp"
#include "templates/segments.hpp"

namespace pigeon::engine::cli {

namespace {

std::string utf8(char32_t c) {
  std::string out;
  templates::append_utf8(out, c);
  return out;
}

int segments(const context& ctx, const std::string& text) {
  auto info = templates::count_segments(text);
  std::string enc(templates::to_string(info.enc));
  if (ctx.json) {
    boost::json::array units, non_gsm;
    for (int u : info.units) units.push_back(u);
    for (char32_t c : info.non_gsm) non_gsm.push_back(boost::json::string(utf8(c)));
    std::cout << boost::json::serialize(boost::json::object{{"encoding", enc},
                                                            {"segments", info.segments},
                                                            {"units", std::move(units)},
                                                            {"total_units", info.total_units},
                                                            {"non_gsm", std::move(non_gsm)}})
              << "\n";
    return 0;
  }
  std::cout << "encoding  " << enc << "\nsegments  " << info.segments << "\nunits    ";
  for (int u : info.units) std::cout << " " << u;
  std::cout << (info.enc == templates::encoding::gsm7 ? " septets" : " UTF-16 units") << "\n";
  if (!info.non_gsm.empty()) {
    std::cout << "UCS-2 because of:";
    for (char32_t c : info.non_gsm) std::cout << " " << utf8(c);
    std::cout << "\n";
  }
  return 0;
}

}  // namespace

void register_tools(CLI::App& app, context& ctx, int& exit_code) {
  auto* seg = app.add_subcommand("segments", "encoding, segment count and units of a text");
  static std::string text;
  seg->add_option("text", text)->required();
  seg->add_flag("--json", ctx.json, "JSON output");
  seg->callback([&] { exit_code = segments(ctx, text); });

  auto* sim = app.add_subcommand(
      "simulate-carrier", "a carrier on loopback: records submissions, injects latency and faults");
  static net::simulator_options opts;
  static std::uint16_t port = 0;
  static std::vector<std::string> faults;
  static long latency_ms = 0, retry_after_s = 1;
  sim->add_option("--port", port, "port on 127.0.0.1 (0 = any free one)");
  sim->add_option("--latency-ms", latency_ms, "delay before every answer");
  sim->add_option("--fail-rate", opts.fail_rate, "fraction of submissions answered with a fault")
      ->check(CLI::Range(0.0, 1.0));
  sim->add_option("--faults", faults, "faults to draw from: 5xx, 429, timeout, reset")
      ->delimiter(',');
  sim->add_option("--retry-after", retry_after_s, "Retry-After seconds on 429");
  sim->add_option("--reject-prefix", opts.reject_prefix,
                  "numbers starting with this get 400 21211");
  sim->add_option("--record", opts.record_path, "append every submission as a JSON line");
  sim->add_option("--seed", opts.seed, "fault-injection seed");
  static long dlr_delay_ms = 0;
  sim->add_option("--status-callback", opts.status_callback_url,
                  "where to post delivery reports for submissions that name no status_callback");
  sim->add_option("--dlr", opts.dlr, "delivery report to send: delivered, undelivered or none")
      ->check(CLI::IsMember({"delivered", "undelivered", "none"}));
  sim->add_option("--dlr-delay-ms", dlr_delay_ms, "delay before a delivery report");
  sim->add_option("--inbound-url", opts.inbound_url, "where POST /_mo sends inbound messages");
  static std::string secret_env;
  sim->add_option("--webhook-secret-env", secret_env,
                  "environment variable holding the secret that signs delivery reports and "
                  "inbound messages (X-Signature, X-Timestamp)");
  sim->callback([&] {
    opts.latency = std::chrono::milliseconds(latency_ms);
    opts.retry_after = std::chrono::seconds(retry_after_s);
    opts.dlr_delay = std::chrono::milliseconds(dlr_delay_ms);
    if (!secret_env.empty()) {
      const char* secret = std::getenv(secret_env.c_str());
      if (!secret || !*secret) {
        std::cerr << "simulate-carrier: --webhook-secret-env " << secret_env << " is not set\n";
        exit_code = 1;
        return;
      }
      opts.webhook_secret = secret;
    } else {
      std::cerr << "simulate-carrier: no --webhook-secret-env: delivery reports and inbound "
                   "messages go unsigned, and pigeon refuses them\n";
    }
    if (!faults.empty()) {
      opts.faults.clear();
      for (const auto& f : faults) opts.faults.push_back(net::parse_simulator_fault(f));
    }
    exit_code = net::run_simulate_carrier_main(opts, port);
  });
}

}  // namespace pigeon::engine::cli
