// kannel_codec_tool: the kannel codec on the command line, for the Kannel round trip
// (tests/integration/kannel_roundtrip.py), so that test sends exactly what the codec builds and
// reads DLRs and MOs exactly as the codec does.
//
//   kannel_codec_tool submit URL USERNAME PASSWORD FROM TOKEN CALLBACK_URL ID TO TEXT
//     prints the request URL the codec builds (one line)
//   kannel_codec_tool submit-post (same arguments)
//     prints the POST request the codec builds with method: POST, as JSON
//     {"url","headers":[[name,value],...],"body"}
//   kannel_codec_tool reply STATUS BODY            prints the verdict (first line: its kind)
//   kannel_codec_tool webhook status|inbound TOKEN REMOTE_ADDRESS URL
//     parses a GET webhook; prints "receipt <message_id> <state> <status>",
//     "inbound <from> <to> <text>" or "refused <status> <reason>"
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <iostream>
#include <string>

#include "providers/kannel.hpp"

namespace {

pigeon::config::provider_config make_config(const std::string& url, const std::string& user,
                                            const std::string& password, const std::string& from,
                                            const std::string& token) {
  pigeon::config::provider_config cfg;
  cfg.name = "kannel";
  cfg.kind = "kannel";
  cfg.settings["url"] = {url, {}};
  cfg.settings["username"] = {user, {}};
  cfg.settings["password"] = {password, {}};
  if (!from.empty()) cfg.settings["from"] = {from, {}};
  cfg.settings["webhook_token"] = {token, {}};
  return cfg;
}

int usage() {
  std::cerr << "usage: kannel_codec_tool submit URL USERNAME PASSWORD FROM TOKEN CALLBACK ID TO "
               "TEXT | reply STATUS BODY | webhook status|inbound TOKEN REMOTE URL\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace pigeon;
  if (argc < 2) return usage();
  const std::string verb = argv[1];
  try {
    if ((verb == "submit" || verb == "submit-post") && argc == 11) {
      auto cfg = make_config(argv[2], argv[3], argv[4], argv[5], argv[6]);
      if (verb == "submit-post") cfg.settings["method"] = {"POST", {}};
      auto codec = providers::kannel::make(cfg);
      engine::outbound_message m;
      m.status_callback_url = argv[7];
      m.id = std::stoll(argv[8]);
      m.to = argv[9];
      m.text = argv[10];
      auto request = codec->build_submit(m);
      if (verb == "submit") {
        std::cout << request.url << "\n";
        return 0;
      }
      boost::json::array headers;
      for (const auto& [name, value] : request.headers) headers.push_back({name, value});
      boost::json::object out{
          {"url", request.url}, {"headers", std::move(headers)}, {"body", request.body}};
      std::cout << boost::json::serialize(out) << "\n";
      return 0;
    }
    if (verb == "reply" && argc == 4) {
      auto codec = providers::kannel::make(
          make_config("http://127.0.0.1/", "u", "p", "", "0123456789abcdef"));
      engine::outbound_message m;
      m.id = 1;
      auto verdict = codec->parse_submit_reply_for(m, {std::stoi(argv[2]), {}, argv[3]});
      if (auto* a = std::get_if<engine::accepted>(&verdict))
        std::cout << "accepted " << a->carrier_id << "\n";
      else if (auto* r = std::get_if<engine::rejected>(&verdict))
        std::cout << "rejected " << r->code << " " << r->text << "\n";
      else
        std::cout << "retry_later " << std::get<engine::retry_later>(verdict).code << "\n";
      return 0;
    }
    if (verb == "webhook" && argc == 6) {
      auto codec = providers::kannel::make(make_config("http://127.0.0.1/", "u", "p", "", argv[3]));
      engine::webhook_request request;
      request.method = "GET";
      request.remote_address = argv[4];
      request.url = argv[5];
      auto q = request.url.find('?');
      request.query = q == std::string::npos ? "" : request.url.substr(q + 1);
      auto kind = std::string(argv[2]) == "inbound" ? engine::webhook_kind::inbound
                                                    : engine::webhook_kind::status;
      auto result = codec->parse_webhook(kind, request);
      if (auto* refused = std::get_if<engine::webhook_refused>(&result)) {
        std::cout << "refused " << refused->status << " " << refused->reason << "\n";
        return 0;
      }
      const auto& events = std::get<engine::webhook_events>(result);
      for (const auto& e : events.receipts)
        std::cout << "receipt " << e.message_id << " " << engine::to_string(e.state) << " "
                  << e.status << "\n";
      for (const auto& e : events.inbound)
        std::cout << "inbound " << e.from << " " << e.to << " " << e.text << "\n";
      return 0;
    }
  } catch (const config::config_error& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return usage();
}
