#include <doctest/doctest.h>

#include <cstdint>
#include <string>

#include "templates/template.hpp"

using namespace pigeon::templates;

namespace {

std::string render(std::string_view text, const variables& vars,
                   std::vector<std::string>* missing = nullptr) {
  std::string out;
  auto m = compiled_template::compile(text).render(vars, out);
  if (missing) *missing = std::move(m);
  return out;
}

template_error error_of(std::string_view text) {
  try {
    compiled_template::compile(text);
  } catch (const template_error& e) {
    return e;
  }
  FAIL("expected a template_error for: " << text);
  return template_error("", 0, 0, 0);
}

}  // namespace

TEST_CASE("a variable is replaced by its value and the render reports nothing missing") {
  map_variables vars{{"first_name", "小明"}};
  std::vector<std::string> missing{"x"};
  CHECK(render("{{first_name}},您的双11券册已到", vars, &missing) == "小明,您的双11券册已到");
  CHECK(missing.empty());
}

TEST_CASE("whitespace inside the braces is allowed") {
  map_variables vars{{"name", "Ana"}};
  CHECK(render("Hi {{ name }}!", vars) == "Hi Ana!");
  CHECK(render("Hi {{\tname\t:upper }}!", vars) == "Hi ANA!");
}

TEST_CASE("a default with CJK and spaces is used when the variable is missing or empty") {
  map_variables vars{{"empty", ""}};
  std::vector<std::string> missing;
  CHECK(render("您的{{coupon|默认券}}还有3天到期", vars, &missing) == "您的默认券还有3天到期");
  CHECK(missing.empty());
  CHECK(render("{{ coupon | 默认 的 券 }}!", vars) == "默认 的 券!");
  CHECK(render("{{empty|空}}", vars) == "空");
  vars.set("coupon", "季卡");
  CHECK(render("您的{{coupon|默认券}}", vars) == "您的季卡");
}

TEST_CASE("a missing variable without a default renders empty and is reported once") {
  map_variables vars{{"a", "1"}};
  std::vector<std::string> missing;
  CHECK(render("{{a}}-{{b}}-{{c}}-{{b}}", vars, &missing) == "1---");
  CHECK(missing == std::vector<std::string>{"b", "c"});
}

TEST_CASE("dotted names are passed whole to the variables") {
  map_variables vars{{"contact.city", "Hangzhou"}};
  CHECK(render("{{contact.city}}", vars) == "Hangzhou");
}

TEST_CASE("variable names come in order of first appearance without duplicates") {
  auto t = compiled_template::compile("{{b}}{{a|x}}{{b:upper}}{{c.d|默认}}");
  CHECK(t.variable_names() == std::vector<std::string>{"b", "a", "c.d"});
  CHECK(t.defaults().size() == 2);
  CHECK(t.defaults().at("a") == "x");
  CHECK(t.defaults().at("c.d") == "默认");
  CHECK(t.tags().size() == 4);
}

TEST_CASE("filters apply to the value, and the default is inserted as written") {
  map_variables vars{{"name", "ANA"}};
  CHECK(render("{{name:lower|默认}}", vars) == "ana");
  CHECK(render("{{other:lower|DEFAULT}}", vars) == "DEFAULT");
  CHECK(render("{{name:lower:upper}}", vars) == "ANA");
}

TEST_CASE("a value a filter rejects falls back to the default or is reported as missing") {
  map_variables vars{{"price", "abc"}};
  std::vector<std::string> missing;
  CHECK(render("{{price:number(2)|?}}", vars, &missing) == "?");
  CHECK(missing.empty());
  CHECK(render("[{{price:number(2)}}]", vars, &missing) == "[]");
  CHECK(missing == std::vector<std::string>{"price"});
}

TEST_CASE("a backslash escapes literal braces") {
  map_variables vars{{"x", "1"}};
  CHECK(render("\\{{x}} is {{x}}", vars) == "{{x}} is 1");
  CHECK(render("\\\\{{x}}", vars) == "\\1");
  CHECK(render("\\\\\\{{x}}", vars) == "\\{{x}}");
  CHECK(render("C:\\path\\ and }} and { alone", vars) == "C:\\path\\ and }} and { alone");
}

TEST_CASE("a template without tags renders as written") {
  map_variables vars;
  CHECK(render("今晚8点闪购倒计时!", vars) == "今晚8点闪购倒计时!");
  CHECK(render("", vars).empty());
}

TEST_CASE("render appends to the caller's string") {
  map_variables vars{{"x", "1"}};
  std::string out = "【咖啡】";
  compiled_template::compile("a{{x}}").render(vars, out);
  CHECK(out == "【咖啡】a1");
}

TEST_CASE("an unclosed tag is an error at its opening braces") {
  auto e = error_of("第一行\nab {{first_name");
  CHECK(e.offset() == 13);
  CHECK(e.line() == 2);
  CHECK(e.column() == 4);
  CHECK(std::string(e.what()).find("unclosed") != std::string::npos);
}

TEST_CASE("an empty name is an error with its position") {
  auto e = error_of("您好{{ }}");
  CHECK(e.line() == 1);
  CHECK(e.column() == 6);
  CHECK(std::string(e.what()).find("empty variable name") != std::string::npos);
  CHECK(std::string(error_of("{{|x}}").what()).find("empty variable name") != std::string::npos);
}

TEST_CASE("bad characters in names are errors with their position") {
  auto e = error_of("Hi {{first name}}");
  CHECK(e.column() == 12);
  e = error_of("Hi {{名字}}");
  CHECK(e.column() == 6);
  CHECK(std::string(e.what()).find("'名'") != std::string::npos);
  e = error_of("{{a..b}}");
  CHECK(e.column() == 5);
  e = error_of("{{a.}}");
  CHECK(e.column() == 5);
  e = error_of("{{a!}}");
  CHECK(e.column() == 4);
}

TEST_CASE("an unknown filter is rejected at compile time with its position") {
  auto e = error_of("您好 {{name:uper}}");
  CHECK(e.line() == 1);
  CHECK(e.column() == 11);
  CHECK(std::string(e.what()).find("unknown filter 'uper'") != std::string::npos);
  CHECK(error_of("{{name:}}").column() == 8);
  CHECK(error_of("{{name:truncate(10)}}").column() == 8);
}

TEST_CASE("bad filter arguments are rejected at compile time") {
  CHECK(error_of("{{p:number(x)}}").column() == 12);
  CHECK(error_of("{{p:number(10)}}").column() == 12);
  CHECK(error_of("{{p:upper(1)}}").column() == 10);
  CHECK(error_of("{{d:date()}}").column() == 10);
  CHECK(error_of("{{d:date(%Q)}}").column() == 10);
  CHECK(error_of("{{d:date(%Y}}").column() == 9);
}

TEST_CASE("random templates either compile or throw template_error with a position inside") {
  std::uint32_t seed = 11;
  const std::string pool[] = {"{{", "}}", "\\", "a",     ".",         ":",        "|", "(",
                              ")",  " ",  "咖", "upper", "number(2)", "date(%Y)", "!", "\xFF"};
  map_variables vars{{"a", "2026-11-11"}, {"a.a", "5"}};
  for (int i = 0; i < 3000; ++i) {
    std::string text;
    seed = seed * 1103515245u + 12345u;
    const auto len = (seed >> 8) % 24;
    for (std::uint32_t j = 0; j < len; ++j) {
      seed = seed * 1103515245u + 12345u;
      text += pool[(seed >> 16) % std::size(pool)];
    }
    try {
      std::string out;
      compiled_template::compile(text).render(vars, out);
    } catch (const template_error& e) {
      CHECK(e.offset() <= text.size());
      CHECK(e.line() >= 1);
      CHECK(e.column() >= 1);
    }
  }
}
