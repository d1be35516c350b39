#include <doctest/doctest.h>

#include <string>

#include "templates/template.hpp"

using namespace pigeon::templates;

namespace {

std::string render(std::string_view text, std::string value) {
  map_variables vars{{"v", std::move(value)}};
  std::string out;
  auto missing = compiled_template::compile(text).render(vars, out);
  return missing.empty() ? out : "<missing>";
}

}  // namespace

TEST_CASE("upper and lower change ASCII and Latin-1 letters and leave CJK untouched") {
  CHECK(render("{{v:upper}}", "café ñ 咖啡 straße") == "CAFÉ Ñ 咖啡 STRAßE");
  CHECK(render("{{v:lower}}", "ÀÉÎÕÜ × ÷ ABC 咖啡") == "àéîõü × ÷ abc 咖啡");
}

TEST_CASE("number formats a fixed count of decimals, rounding half away from zero") {
  CHECK(render("{{v:number(2)}}", "2.675") == "2.68");
  CHECK(render("{{v:number(2)}}", "3") == "3.00");
  CHECK(render("{{v:number(0)}}", "9.5") == "10");
  CHECK(render("{{v:number}}", "-0.4") == "0");
  CHECK(render("{{v:number(1)}}", "-1.25") == "-1.3");
  CHECK(render("{{v:number(3)}}", "+007.1") == "7.100");
  CHECK(render("{{v:number(1)}}", ".96") == "1.0");
  CHECK(render("{{v:number(2)}}", "99999999999999999999.999") == "100000000000000000000.00");
  CHECK(render("{{v:number(2)}}", " 12 ") == "12.00");
  CHECK(render("{{v:number(2)}}", "1,000") == "<missing>");
  CHECK(render("{{v:number(2)}}", "1e3") == "<missing>");
  CHECK(render("{{v:number(2)}}", "-") == "<missing>");
}

TEST_CASE("date formats an ISO date or date-time with a strftime-like pattern") {
  CHECK(render("{{v:date(%m月%d日)}}", "2026-11-08") == "11月08日");
  CHECK(render("{{v:date(%-m月%-d日 %H:%M)}}", "2026-11-08T09:05:00+08:00") == "11月8日 09:05");
  CHECK(render("{{v:date}}", "2026-11-08 23:59") == "2026-11-08");
  CHECK(render("{{v:date(%a %A %b %B %y %I%p %T %F %R %%)}}", "2026-11-11T15:04:05Z") ==
        "Wed Wednesday Nov November 26 03PM 15:04:05 2026-11-11 15:04 %");
  CHECK(render("{{v:date(%a)}}", "2000-02-29") == "Tue");
  CHECK(render("{{v:date(%a)}}", "1969-12-31") == "Wed");
  CHECK(render("{{v:date(%d)}}", "2026-02-29") == "<missing>");
  CHECK(render("{{v:date(%d)}}", "2026-13-01") == "<missing>");
  CHECK(render("{{v:date(%d)}}", "11/08/2026") == "<missing>");
  CHECK(render("{{v:date(%d)}}", "2026-11-08T25:00") == "<missing>");
}
