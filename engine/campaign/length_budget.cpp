#include "engine/campaign/length_budget.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <optional>
#include <string_view>
#include <system_error>
#include <unordered_map>

#include "engine/campaign/apply.hpp"
#include "engine/campaign/compose.hpp"
#include "engine/campaign/journeys.hpp"
#include "engine/model/phone.hpp"
#include "templates/template.hpp"

namespace pigeon::engine::campaign {
namespace {

constexpr std::string_view allowed_types[] = {
    "image/jpeg", "image/png",   "image/gif",  "text/plain", "audio/amr",
    "audio/mpeg", "audio/mp3",   "audio/mp4",  "audio/aac",  "audio/ogg",
    "audio/wav",  "audio/x-wav", "audio/wave", "video/mp4",  "video/3gpp"};

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The length of one composed SMS, as counted (see sms_counts).
struct sms_count {
  templates::encoding enc = templates::encoding::gsm7;
  int segments = 0;
  std::vector<int> units;
  int total_units = 0;
  long long bytes = 0;
};

struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// At most this many distinct rendered texts are remembered per variant (about 100 bytes each
// for a typical SMS); past that, further texts are counted every time.
constexpr std::size_t max_cached_texts = 50'000;

// One step/variant being checked: compiled once, findings accumulated over every recipient.
struct slot {
  const config::step_config* step = nullptr;
  const config::variant_config* variant = nullptr;
  bool mms = false;
  bool marketing_sms = false;
  std::optional<templates::compiled_template> text, subject;
  std::vector<std::string> names;                // variables of text and subject
  const boost::json::object* context = nullptr;  // a journey's stand-ins (event.<key>)
  long long media_bytes = 0;
  budget_finding missing, overflow, media;
  variant_budget summary;
  // SMS: the count of each rendered text seen (before signature, hint and smart encoding, which
  // are the same for every recipient), so recipients whose variables give the same text are
  // composed and counted once.
  std::unordered_map<std::string, sms_count, string_hash, std::equal_to<>> sms_counts;
};

// The location of `entry` in the campaign's source text (its first occurrence), else `fallback`.
config::source_location locate(const config::campaign_config& c, const std::string& entry,
                               const config::source_location& fallback) {
  auto at = c.source_text.find(entry, 0);
  if (entry.empty() || at == std::string::npos) return fallback;
  config::source_location loc{c.path, 1, 1};
  for (std::size_t i = 0; i < at; ++i) {
    if (c.source_text[i] == '\n') {
      ++loc.line;
      loc.column = 1;
    } else if ((static_cast<unsigned char>(c.source_text[i]) & 0xC0) != 0x80) {
      ++loc.column;
    }
  }
  return loc;
}

void add_example(budget_finding& f, budget_example e, bool worst) {
  if (worst) {
    f.worst_case = true;
    f.examples.insert(f.examples.begin(), std::move(e));
    if (f.examples.size() > max_budget_examples) f.examples.pop_back();
    return;
  }
  ++f.recipients;
  if (f.examples.size() < max_budget_examples) f.examples.push_back(std::move(e));
}

budget_example make_example(const slot& s, const templates::variables& vars, const contact& c,
                            bool worst) {
  budget_example e;
  e.phone = worst ? "(no attributes)" : mask_phone(c.phone);
  e.contact_id = worst ? 0 : c.id;
  for (const auto& n : s.names) {
    auto v = vars.find(n);
    std::string value = !v ? "(missing)" : n == "phone" ? mask_phone(*v) : std::string(*v);
    e.values.emplace_back(n, std::move(value));
  }
  return e;
}

// Scratch buffers reused across renders.
struct scratch {
  std::string rendered, subject;
  templates::segment_info info;
  sms_count uncached;  // the count of a text not cached (the cache is full)
};

void evaluate(slot& s, const config::sender_config& sender, const contact& c, bool worst,
              scratch& buf) {
  contact_variables vars(c, s.context);
  buf.rendered.clear();
  buf.subject.clear();
  auto missing = s.text->render(vars, buf.rendered);
  if (s.mms) {
    auto more = s.subject->render(vars, buf.subject);
    for (auto& m : more)
      if (std::find(missing.begin(), missing.end(), m) == missing.end())
        missing.push_back(std::move(m));
  }
  if (!worst) ++s.summary.recipients;
  if (!missing.empty() && !worst) {
    if (s.missing.examples.size() < max_budget_examples) {
      auto e = make_example(s, vars, c, false);
      e.missing = std::move(missing);
      add_example(s.missing, std::move(e), false);
    } else {
      ++s.missing.recipients;
    }
    return;
  }
  if (!s.mms) {
    auto it = s.sms_counts.find(std::string_view(buf.rendered));
    if (it == s.sms_counts.end()) {
      std::string text =
          compose_text(sender.signature, sender.opt_out_hint, s.marketing_sms, buf.rendered);
      if (sender.smart_encoding) apply_smart_encoding(text);
      templates::count_segments(text, buf.info);
      sms_count count{buf.info.enc, buf.info.segments, buf.info.units, buf.info.total_units,
                      static_cast<long long>(text.size())};
      if (s.sms_counts.size() < max_cached_texts) {
        it = s.sms_counts.emplace(buf.rendered, std::move(count)).first;
      } else {
        buf.uncached = std::move(count);
      }
    }
    const sms_count& count = it == s.sms_counts.end() ? buf.uncached : it->second;
    s.summary.max_segments = std::max(s.summary.max_segments, count.segments);
    if (count.segments <= sender.sms_max_segments) return;
    if (!worst && s.overflow.examples.size() >= max_budget_examples) {
      ++s.overflow.recipients;
      return;
    }
    auto e = make_example(s, vars, c, worst);
    e.enc = count.enc;
    e.segments = count.segments;
    e.units = count.units;
    e.total_units = count.total_units;
    e.bytes = count.bytes;
    add_example(s.overflow, std::move(e), worst);
    return;
  }
  std::string text =
      compose_text(sender.signature, sender.opt_out_hint, s.marketing_sms, buf.rendered);
  long long bytes = static_cast<long long>(buf.subject.size() + text.size()) + s.media_bytes;
  s.summary.max_bytes = std::max(s.summary.max_bytes, bytes);
  if (bytes <= sender.mms_max_bytes) return;
  if (!worst && s.overflow.examples.size() >= max_budget_examples) {
    ++s.overflow.recipients;
    return;
  }
  auto e = make_example(s, vars, c, worst);
  e.bytes = bytes;
  add_example(s.overflow, std::move(e), worst);
}

// A local media entry: inside media_dir, of a type decided by its content (media_files.hpp),
// and fetchable from public_url.
media_info probe_local(const std::string& entry, const std::string& base,
                       const config::engine_config& engine) {
  media_info info;
  auto local = dispatch::resolve_local_media(entry, base, engine.media_dir);
  if (!local.error.empty()) {
    info.error = std::move(local.error);
  } else if (engine.public_url.empty()) {
    info.error = "a local file is sent to carriers as {public_url}/media/" + local.relative +
                 ", and the engine config has no public_url: set it to the address carriers "
                 "reach the webhooks listener at";
  } else {
    info.ok = true;
  }
  info.bytes = local.bytes;
  info.content_type = std::move(local.content_type);
  return info;
}

void probe_media(slot& s, const config::campaign_config& campaign,
                 const config::engine_config& engine, const media_probe& url_probe,
                 std::map<std::string, media_info>& cache) {
  std::string base = std::filesystem::path(campaign.path).parent_path().string();
  for (const auto& entry : s.variant->media) {
    auto it = cache.find(entry);
    if (it == cache.end()) {
      media_info info;
      if (!dispatch::is_media_url(entry)) {
        info = probe_local(entry, base, engine);
      } else if (url_probe) {
        try {
          info = url_probe(entry);
        } catch (const std::exception& e) {
          info.error = e.what();
        }
      } else {
        info.error = "URL media cannot be checked here (no prober)";
      }
      if (info.content_type.empty() && info.ok)
        info.content_type = dispatch::media_type_for_extension(entry);
      it = cache.emplace(entry, std::move(info)).first;
    }
    const media_info& info = it->second;
    s.summary.media.push_back({entry, info});
    std::string problem;
    if (!info.ok) {
      problem = "media `" + entry + "`: " + (info.error.empty() ? "unreachable" : info.error);
    } else if (!media_type_allowed(info.content_type)) {
      problem = "media `" + entry + "`: type `" +
                (info.content_type.empty() ? "unknown" : info.content_type) +
                "` is not accepted by carriers (jpeg, png, gif, plain text, amr, mp3, aac/mp4, "
                "ogg, wav audio, mp4 and 3gpp video)";
    } else if (info.bytes < 0) {
      problem = "media `" + entry + "`: size unknown (no Content-Length)";
    }
    if (info.bytes > 0) s.media_bytes += info.bytes;
    if (problem.empty()) continue;
    if (s.media.detail.empty()) s.media.where = locate(campaign, entry, s.variant->where);
    s.media.detail += (s.media.detail.empty() ? "" : "\n") + problem;
  }
  s.summary.media_bytes = s.media_bytes;
}

std::string join_units(const std::vector<int>& units) {
  std::string out;
  for (int u : units) out += (out.empty() ? "" : "+") + std::to_string(u);
  return out;
}

std::string describe(const budget_example& e, budget_problem problem) {
  std::string line = "    " + e.phone + "  ";
  if (problem == budget_problem::sms_overflow) {
    line += std::string(templates::to_string(e.enc)) + ", " + std::to_string(e.segments) +
            " segments (" + join_units(e.units) + " = " + std::to_string(e.total_units) +
            (e.enc == templates::encoding::gsm7 ? " septets)" : " UTF-16 units)");
  } else if (problem == budget_problem::mms_overflow) {
    line += std::to_string(e.bytes) + " bytes";
  } else {
    line += "missing";
    for (const auto& m : e.missing) line += " " + m;
  }
  for (const auto& [name, value] : e.values) line += "  " + name + "=\"" + value + "\"";
  return line;
}

}  // namespace

bool media_type_allowed(std::string_view content_type) {
  auto semi = content_type.find(';');
  auto t = lower(content_type.substr(0, semi));
  while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.pop_back();
  return std::find(std::begin(allowed_types), std::end(allowed_types), t) !=
         std::end(allowed_types);
}

contact worst_case_contact() {
  contact c;
  c.phone = "+999999999999999";
  return c;
}

struct budget_checker::state {
  const config::sender_config* sender = nullptr;
  boost::json::object context;  // journey_budget_context
  std::vector<slot> slots;
  scratch buf;
  budget_report report;
};

budget_checker::budget_checker(const config::campaign_config& campaign,
                               const config::engine_config& engine, const media_probe& url_probe)
    : s_(std::make_unique<state>()) {
  auto sender_it = engine.senders.find(campaign.sender);
  if (sender_it == engine.senders.end()) return;  // validate_campaign reports it
  s_->sender = &sender_it->second;
  s_->context = journey_budget_context(campaign);
  const auto& sender = sender_it->second;
  auto& slots = s_->slots;
  std::map<std::string, media_info> cache;
  for (const auto& step : campaign.steps) {
    for (const auto& variant : step.variants) {
      slot s;
      s.step = &step;
      s.variant = &variant;
      s.context = &s_->context;
      s.mms = step.kind == "mms";
      s.marketing_sms = campaign.category == "marketing" && !s.mms;
      try {
        s.text = templates::compiled_template::compile(variant.text);
        s.subject = templates::compiled_template::compile(variant.subject);
      } catch (const templates::template_error&) {
        continue;  // validate_campaign reports it
      }
      s.names = s.text->variable_names();
      if (s.mms)
        for (const auto& n : s.subject->variable_names())
          if (std::find(s.names.begin(), s.names.end(), n) == s.names.end()) s.names.push_back(n);
      for (auto* f : {&s.missing, &s.overflow, &s.media}) {
        f->step = step.id;
        f->variant = variant.name;
        f->where = variant.where;
        f->sender = campaign.sender;
      }
      s.missing.problem = budget_problem::missing_attributes;
      s.overflow.problem = s.mms ? budget_problem::mms_overflow : budget_problem::sms_overflow;
      s.overflow.limit = s.mms ? sender.mms_max_bytes : sender.sms_max_segments;
      s.media.problem = budget_problem::bad_media;
      s.summary.step = step.id;
      s.summary.variant = variant.name;
      s.summary.kind = step.kind;
      s.summary.where = variant.where;
      if (s.mms) probe_media(s, campaign, engine, url_probe, cache);
      slots.push_back(std::move(s));
    }
  }
  auto worst = worst_case_contact();
  for (auto& s : slots) evaluate(s, sender, worst, true, s_->buf);
}

budget_checker::~budget_checker() = default;

void budget_checker::add(const contact& c) {
  s_->report.audience_checked = true;
  ++s_->report.audience;
  if (!s_->sender) return;
  for (auto& s : s_->slots) evaluate(s, *s_->sender, c, false, s_->buf);
}

budget_report budget_checker::finish() {
  budget_report report = std::move(s_->report);
  for (auto& s : s_->slots) {
    bool missing = s.missing.recipients > 0;
    bool overflow = s.overflow.recipients > 0 || s.overflow.worst_case;
    bool media = !s.media.detail.empty();
    s.summary.fits = !missing && !overflow && !media;
    if (missing) report.findings.push_back(std::move(s.missing));
    if (overflow) report.findings.push_back(std::move(s.overflow));
    if (media) report.findings.push_back(std::move(s.media));
    report.variants.push_back(std::move(s.summary));
  }
  s_->slots.clear();
  return report;
}

budget_report check_budget(const config::campaign_config& campaign,
                           const config::engine_config& engine, const contact_source& contacts,
                           const media_probe& url_probe) {
  if (engine.senders.find(campaign.sender) == engine.senders.end()) return {};
  budget_checker checker(campaign, engine, url_probe);
  bool checked = false;
  if (contacts) {
    checked = true;
    audience_filter audience(campaign.audience, engine);
    auto now =
        std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
    contacts([&](const contact& c) {
      if (audience.matches(c, now)) checker.add(c);
    });
  }
  auto report = checker.finish();
  report.audience_checked = checked;
  return report;
}

std::vector<config::config_issue> budget_report::issues() const {
  std::vector<config::config_issue> out;
  for (const auto& f : findings) {
    std::string msg = "step `" + f.step + "` variant " + f.variant + ": ";
    std::string who =
        std::to_string(f.recipients) + (f.recipients == 1 ? " recipient" : " recipients");
    if (f.worst_case)
      who = f.recipients == 0 ? std::string("the worst case (no attributes, defaults applied)")
                              : who + " and the worst case (no attributes)";
    switch (f.problem) {
      case budget_problem::sms_overflow:
        msg += "SMS longer than sender `" + f.sender + "` allows (" + std::to_string(f.limit) +
               (f.limit == 1 ? " segment" : " segments") + ", signature and opt-out hint " +
               "included) for " + who + "; never truncated:";
        break;
      case budget_problem::mms_overflow:
        msg += "MMS larger than sender `" + f.sender + "` allows (mms_max_bytes " +
               std::to_string(f.limit) + ") for " + who + ":";
        break;
      case budget_problem::missing_attributes:
        msg += who +
               " lack attributes the template uses without a default (the message "
               "would fail at send time):";
        break;
      case budget_problem::bad_media:
        msg += f.detail;
        out.push_back({f.where, std::move(msg)});
        continue;
    }
    for (const auto& e : f.examples) msg += "\n" + describe(e, f.problem);
    std::size_t shown = f.examples.size() - (f.worst_case ? 1 : 0);
    if (f.recipients > shown) msg += "\n    and " + std::to_string(f.recipients - shown) + " more";
    out.push_back({f.where, std::move(msg)});
  }
  return out;
}

rendered_sample render_sample(const config::campaign_config& campaign,
                              const config::engine_config& engine, const config::step_config& step,
                              const config::variant_config& variant, const contact& c) {
  rendered_sample r;
  auto sender_it = engine.senders.find(campaign.sender);
  config::sender_config none;
  const auto& sender = sender_it == engine.senders.end() ? none : sender_it->second;
  bool mms = step.kind == "mms";
  const auto context = journey_budget_context(campaign);
  contact_variables vars(c, &context);
  std::string rendered;
  r.missing = templates::compiled_template::compile(variant.text).render(vars, rendered);
  if (mms) {
    auto more = templates::compiled_template::compile(variant.subject).render(vars, r.subject);
    r.missing.insert(r.missing.end(), more.begin(), more.end());
  }
  r.text = compose_text(sender.signature, sender.opt_out_hint,
                        campaign.category == "marketing" && !mms, rendered);
  if (sender.smart_encoding && !mms) apply_smart_encoding(r.text);
  templates::count_segments(r.text, r.info);
  r.text_bytes = static_cast<long long>(r.subject.size() + r.text.size());
  return r;
}

}  // namespace pigeon::engine::campaign
