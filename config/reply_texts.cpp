#include "config/reply_texts.hpp"

#include "templates/segments.hpp"
#include "templates/template.hpp"

namespace pigeon::config {

bool has_cjk(std::string_view text) {
  const char* p = text.data();
  const char* end = p + text.size();
  while (p < end) {
    char32_t cp = templates::decode_utf8(p, end);
    if ((cp >= 0x3000 && cp <= 0x303F) ||  // CJK symbols and punctuation: 【】。、
        (cp >= 0x3400 && cp <= 0x4DBF) ||  // CJK extension A
        (cp >= 0x4E00 && cp <= 0x9FFF) ||  // CJK unified ideographs
        (cp >= 0xF900 && cp <= 0xFAFF) ||  // CJK compatibility ideographs
        (cp >= 0xFF00 && cp <= 0xFFEF))    // full-width forms
      return true;
  }
  return false;
}

std::string default_opt_out_reply(std::string_view signature) {
  return has_cjk(signature) ? "您已退订,将不再收到我们的短信。回复START恢复订阅"
                            : "You are unsubscribed and will get no more messages from us. "
                              "Reply START to resubscribe.";
}

std::string default_opt_in_reply(std::string_view signature) {
  return has_cjk(signature) ? "您已恢复订阅,回复退订即可退订"
                            : "You are subscribed again. Reply STOP to opt out.";
}

std::string reply_text_problem(const sender_config& sender, std::string_view text) {
  templates::compiled_template tmpl;
  try {
    tmpl = templates::compiled_template::compile(text);
  } catch (const templates::template_error& e) {
    return std::string("template: ") + e.what();
  }
  std::string rendered(sender.signature);
  auto missing = tmpl.render(templates::map_variables{}, rendered);
  if (!missing.empty()) {
    std::string names;
    for (const auto& n : missing) names += (names.empty() ? "{{" : ", {{") + n + "}}";
    return "uses " + names +
           " without a default, but a reply may come from a number with no attributes; add "
           "one like {{" +
           missing.front() + "|...}}";
  }
  auto info = templates::count_segments(rendered);
  if (sender.smart_encoding) {
    auto mapped = templates::count_segments(templates::smart_encode(rendered));
    if (mapped.segments < info.segments) info = std::move(mapped);
  }
  if (info.segments <= sender.sms_max_segments) return {};
  return "needs " + std::to_string(info.segments) + " SMS segments (" +
         std::string(templates::to_string(info.enc)) + ", " + std::to_string(info.total_units) +
         " units with the signature); sender '" + sender.name + "' allows " +
         std::to_string(sender.sms_max_segments) + ": shorten it or raise sms_max_segments";
}

}  // namespace pigeon::config
