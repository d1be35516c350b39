#include "providers/generic_http.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "providers/reply.hpp"
#include "providers/settings.hpp"
#include "tests/providers/golden.hpp"

namespace pigeon::providers {
namespace {

using test::check_golden;
using test::provider_builder;

std::string request_text(const config::provider_config& cfg, const engine::outbound_message& m) {
  return test::to_text(generic_http::make(cfg)->build_submit(m));
}

// The issues a bad config raises.
std::vector<config::config_issue> issues_of(const config::provider_config& cfg) {
  try {
    generic_http::parse_settings(cfg);
  } catch (const config::config_error& e) {
    return e.issues();
  }
  FAIL("expected a config_error");
  return {};
}

TEST_CASE("generic-http sends the default JSON body with every field JSON-escaped") {
  auto cfg = provider_builder("gateway", "generic-http")
                 .set("url", "http://127.0.0.1:18080/send")
                 .set("from", "10690000")
                 .cfg;
  check_golden("generic_http", "json_default.request", request_text(cfg, test::tricky_message()));
}

TEST_CASE("generic-http sends a form body percent-encoded, with basic auth") {
  auto cfg = provider_builder("gateway", "generic-http")
                 .set("url", "https://sms.example.net/api/send?v=2")
                 .set("format", "form")
                 .set("from", "Coffee & Co")
                 .set("auth", "basic")
                 .set("username", "pigeon")
                 .set("password", "s3cret:x")
                 .cfg;
  check_golden("generic_http", "form_basic.request", request_text(cfg, test::tricky_message()));
}

TEST_CASE("generic-http fills a custom nested JSON template and sends it with PUT and headers") {
  auto cfg = provider_builder("gateway", "generic-http")
                 .set("url", "http://127.0.0.1:18080/v1/messages")
                 .set("method", "put")
                 .set("body", R"({"message":{"recipient":"{{ to }}","content":"{{text}}"},)"
                              R"("sender":"{{from}}","client_ref":{{id}},"tag":"{literal}"})")
                 .set("from", "pigeon")
                 .set("auth", "bearer")
                 .set("token", "tok-123")
                 .set("headers.X-Api-Key", "k-456")
                 .set("headers.Accept", "application/json")
                 .set("timeout", "500ms")
                 .cfg;
  auto request = generic_http::make(cfg)->build_submit(test::tricky_message());
  CHECK(request.timeout == std::chrono::milliseconds(500));
  check_golden("generic_http", "json_custom_put.request", test::to_text(request));
}

TEST_CASE("generic-http lets a configured Content-Type replace the default one") {
  auto cfg = provider_builder("gateway", "generic-http")
                 .set("url", "http://gw.local/send")
                 .set("headers.content-type", "application/json; charset=utf-8")
                 .cfg;
  auto request = generic_http::make(cfg)->build_submit(test::tricky_message());
  REQUIRE(request.headers.size() == 1);
  CHECK(request.headers[0].first == "content-type");
  CHECK(request.timeout == std::chrono::milliseconds(10000));
}

TEST_CASE("generic-http maps carrier replies onto verdicts as the fixtures say") {
  auto cfg = provider_builder("gateway", "generic-http").set("url", "http://gw.local/send").cfg;
  auto codec = generic_http::make(cfg);
  for (std::string name :
       {"accepted", "accepted_numeric_id", "ok_without_id", "ok_not_json", "throttled_seconds",
        "throttled_http_date", "throttled_bare", "unavailable", "request_timeout", "too_early",
        "bad_request", "bad_request_long", "redirect"}) {
    CAPTURE(name);
    auto response = test::parse_response(test::read_fixture("generic_http", name + ".response"));
    check_golden("generic_http", name + ".verdict",
                 test::to_text(codec->parse_submit_reply(response)));
  }
}

TEST_CASE("generic-http finds the carrier id through a JSON pointer into a nested reply") {
  auto cfg = provider_builder("gateway", "generic-http")
                 .set("url", "http://gw.local/send")
                 .set("id_pointer", "/result/messages/0/id")
                 .cfg;
  auto codec = generic_http::make(cfg);
  auto response = test::parse_response(test::read_fixture("generic_http", "nested.response"));
  check_golden("generic_http", "nested.verdict",
               test::to_text(codec->parse_submit_reply(response)));

  engine::http_response elsewhere{200, {}, R"({"result":{"messages":[]}})"};
  auto verdict = codec->parse_submit_reply(elsewhere);
  REQUIRE(std::holds_alternative<engine::rejected>(verdict));
  CHECK(std::get<engine::rejected>(verdict).code == "no-id");
}

TEST_CASE("generic-http reports an unknown key at its own location, naming the expected keys") {
  auto cfg = provider_builder("gateway", "generic-http")
                 .set("url", "http://gw.local/send")
                 .set("urll", "http://typo")
                 .cfg;
  auto issues = issues_of(cfg);
  REQUIRE(issues.size() == 1);
  CHECK(issues[0].to_string() ==
        "engine.yaml:22:5: unknown key 'urll' for generic-http provider 'gateway'; expected one "
        "of: url, method, format, body, from, headers.*, id_pointer, auth, username, password, "
        "token, timeout, hmac_secret, hmac_header, hmac_timestamp_header, batch, "
        "batch_results_pointer, batch_id_pointer, webhook_secret, webhook_signature_header, "
        "webhook_timestamp_header, webhook_tolerance, dlr_id_pointer, dlr_ref_pointer, "
        "dlr_status_pointer, dlr_error_code_pointer, dlr_error_text_pointer, mo_from_pointer, "
        "mo_to_pointer, mo_text_pointer, mo_id_pointer");
}

TEST_CASE("generic-http reports a missing url at the provider and every other problem at once") {
  auto cfg = provider_builder("gateway", "generic-http")
                 .set("method", "GET")
                 .set("format", "xml")
                 .set("timeout", "soon")
                 .set("auth", "bearer")
                 .cfg;
  auto issues = issues_of(cfg);
  std::vector<std::string> lines;
  for (const auto& issue : issues) lines.push_back(issue.to_string());
  CHECK(lines == std::vector<std::string>{
                     "engine.yaml:20:3: generic-http provider 'gateway' needs key 'url'",
                     "engine.yaml:21:5: key 'method' of generic-http provider 'gateway' is 'GET'; "
                     "expected one of: POST, PUT",
                     "engine.yaml:22:5: key 'format' of generic-http provider 'gateway' is 'xml'; "
                     "expected one of: json, form",
                     "engine.yaml:23:5: key 'timeout' of generic-http provider 'gateway' is "
                     "'soon'; expected a positive duration such as 10s or 500ms",
                     "engine.yaml:20:3: generic-http provider 'gateway' needs key 'token'",
                 });
}

TEST_CASE("generic-http refuses an unknown placeholder in the body, at the body's location") {
  auto cfg = provider_builder("gateway", "generic-http")
                 .set("url", "http://gw.local/send")
                 .set("body", R"({"to":"{{to}}","msg":"{{message}}"})")
                 .cfg;
  auto issues = issues_of(cfg);
  REQUIRE(issues.size() == 1);
  CHECK(issues[0].to_string() ==
        "engine.yaml:22:5: unknown placeholder '{{message}}' in body template; expected {{to}}, "
        "{{from}}, {{text}} or {{id}} (generic-http provider 'gateway')");
}

TEST_CASE("generic-http refuses a JSON body that stops being JSON once filled in") {
  auto cfg = provider_builder("gateway", "generic-http")
                 .set("url", "http://gw.local/send")
                 .set("body", R"({"to":{{to}},"text":"{{text}}"})")
                 .cfg;
  auto issues = issues_of(cfg);
  REQUIRE(issues.size() == 1);
  CHECK(issues[0].where.line == 22);
  CHECK(issues[0].message.find("is not valid JSON once filled in") != std::string::npos);
}

TEST_CASE("generic-http refuses bad urls, stray credentials and unclosed placeholders") {
  SUBCASE("an ftp url") {
    auto cfg = provider_builder("g", "generic-http").set("url", "ftp://gw.local/send").cfg;
    CHECK(issues_of(cfg)[0].message ==
          "key 'url' of generic-http provider 'g' must be an http or https URL, not 'ftp'");
  }
  SUBCASE("a url that is not one") {
    auto cfg = provider_builder("g", "generic-http").set("url", "gw.local send").cfg;
    CHECK(issues_of(cfg)[0].message.rfind("key 'url' of generic-http provider 'g' is not", 0) == 0);
  }
  SUBCASE("a token without bearer auth") {
    auto cfg = provider_builder("g", "generic-http").set("url", "http://h/").set("token", "t").cfg;
    CHECK(issues_of(cfg)[0].message ==
          "key 'token' of generic-http provider 'g' is only used with auth: bearer");
  }
  SUBCASE("an unclosed placeholder") {
    CHECK_THROWS_AS(generic_http::parse_body_template("to={{to", {"engine.yaml", 3, 9}),
                    config::config_error);
  }
  SUBCASE("a header with a line break") {
    auto cfg = provider_builder("g", "generic-http")
                   .set("url", "http://h/")
                   .set("headers.X-A", "a\r\nX-B: b")
                   .cfg;
    CHECK(issues_of(cfg)[0].message ==
          "header 'X-A' of generic-http provider 'g' contains a line break");
  }
}

TEST_CASE("Retry-After is read as seconds or as an HTTP-date against the reply's Date") {
  using std::chrono::milliseconds;
  auto with = [](engine::header_list headers) {
    return retry_after(engine::http_response{429, std::move(headers), {}});
  };
  CHECK(with({{"Retry-After", "120"}}) == milliseconds(120000));
  CHECK(with({{"retry-after", " 0 "}}) == milliseconds(0));
  CHECK(with({}) == milliseconds(0));
  CHECK(with({{"Retry-After", "-5"}}) == milliseconds(0));
  CHECK(with({{"Retry-After", "soon"}}) == milliseconds(0));
  CHECK(with({{"Retry-After", "Wed, 11 Nov 2026 02:31:30 GMT"},
              {"Date", "Wed, 11 Nov 2026 02:30:00 GMT"}}) == milliseconds(90000));
  // A date without the reply's Date: no clock to measure against, so the backoff decides.
  CHECK(with({{"Retry-After", "Wed, 11 Nov 2026 02:31:30 GMT"}}) == milliseconds(0));
  // A date in the past asks for no wait.
  CHECK(with({{"Retry-After", "Wed, 11 Nov 2026 02:29:00 GMT"},
              {"Date", "Wed, 11 Nov 2026 02:30:00 GMT"}}) == milliseconds(0));
  CHECK_FALSE(parse_http_date("Wed, 31 Feb 2026 02:31:30 GMT"));
  CHECK_FALSE(parse_http_date("Wednesday, 11-Nov-26 02:31:30 GMT"));
}

TEST_CASE("a long reply body is cut for the reason without splitting a UTF-8 character") {
  std::string body(199, 'x');
  body += "咖啡";  // bytes 199..204
  CHECK(short_reason(body) == std::string(199, 'x') + "...");
  CHECK(short_reason("  short\n") == "short");
}

TEST_CASE("basic auth credentials are base64-encoded with the padding RFC 7617 expects") {
  CHECK(basic_authorization("Aladdin", "open sesame") == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
  CHECK(basic_authorization("a", "bcd") == "Basic YTpiY2Q=");
  CHECK(basic_authorization("ab", "c") == "Basic YWI6Yw==");
  CHECK(basic_authorization("a", "b") == "Basic YTpi");
}

}  // namespace
}  // namespace pigeon::providers
