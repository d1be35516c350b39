#include "engine/report/report.hpp"

#include <doctest/doctest.h>

#include "engine/report/svg.hpp"

using namespace pigeon::engine;
using namespace pigeon::engine::report;

TEST_CASE("the Wilson interval matches the textbook values and stays inside 0..1") {
  // 8 of 20: 95% Wilson interval 0.2188-0.6134.
  auto p = wilson(8, 20);
  CHECK(p.rate == doctest::Approx(0.4));
  CHECK(p.low == doctest::Approx(0.2188).epsilon(0.001));
  CHECK(p.high == doctest::Approx(0.6134).epsilon(0.001));
  auto none = wilson(0, 10);
  CHECK(none.low == 0.0);
  CHECK(none.high == doctest::Approx(0.2775).epsilon(0.001));
  auto all = wilson(10, 10);
  CHECK(all.high == 1.0);
  CHECK(wilson(0, 0).rate == 0.0);
}

TEST_CASE("the HTML page escapes every user text and draws one series per row") {
  campaign_report r;
  r.campaign = "<script>alert(1)</script>";
  r.state = "active";
  r.category = "marketing";
  funnel_row row;
  row.step = "s\"1";
  row.variant = "A&B";
  row.counts.queued = 3;
  row.counts.suppressed_by_reason["<b>why</b>"] = 1;
  r.funnel.push_back(row);
  r.carrier_errors.push_back({"p<1>", "<c>", "<img src=x>", 1});
  auto html = render_html(r);
  CHECK(html.find("<script>alert") == std::string::npos);
  CHECK(html.find("<b>why") == std::string::npos);
  CHECK(html.find("<img") == std::string::npos);
  CHECK(html.find("&lt;script&gt;alert(1)&lt;/script&gt;") != std::string::npos);
  CHECK(html.find("s&quot;1 / A&amp;B") != std::string::npos);
  CHECK(html.find("&lt;b&gt;why&lt;/b&gt;") != std::string::npos);
  // The funnel chart: one series (the row); the timeline: sent, delivered, replied.
  auto funnel = html.substr(html.find("data-chart=\"funnel\""));
  funnel = funnel.substr(0, funnel.find("</svg>"));
  std::size_t series = 0;
  for (auto at = funnel.find("class=\"series\""); at != std::string::npos;
       at = funnel.find("class=\"series\"", at + 1))
    ++series;
  CHECK(series == 1);
  CHECK(funnel.find("data-series=\"s&quot;1 / A&amp;B\"") != std::string::npos);
  // The JSON block cannot be closed by a text inside it.
  CHECK(html.find("\\u003c/script>") != std::string::npos);
}

TEST_CASE("a path segment is percent-encoded byte by byte") {
  CHECK(svg::url_encode("spring <A&B>") == "spring%20%3CA%26B%3E");
  CHECK(svg::url_encode("双11") == "%E5%8F%8C11");
}
