#include "engine/inbound/replies.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <mutex>
#include <unordered_map>

#include "engine/campaign/apply.hpp"
#include "engine/model/phone.hpp"

namespace pigeon::engine::inbound {

namespace {

// Decodes one UTF-8 sequence at `i` (advancing it); invalid bytes decode as themselves.
char32_t next_code_point(std::string_view s, std::size_t& i) {
  auto b = static_cast<unsigned char>(s[i]);
  std::size_t extra = b >= 0xF0 ? 3 : b >= 0xE0 ? 2 : b >= 0xC0 ? 1 : 0;
  if (extra == 0 || i + extra >= s.size()) {
    ++i;
    return b;
  }
  char32_t cp = b & (0x3F >> extra);
  for (std::size_t k = 1; k <= extra; ++k) {
    auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xC0) != 0x80) {
      ++i;
      return b;
    }
    cp = (cp << 6) | (c & 0x3F);
  }
  i += extra + 1;
  return cp;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool is_space_or_punct(char32_t cp) {
  if (cp < 0x80) return std::isspace(static_cast<int>(cp)) || std::ispunct(static_cast<int>(cp));
  // CJK punctuation: 、。〃 〈〉《》「」『』【】 〔〕 and the like, and full stops/quotes.
  return (cp >= 0x3001 && cp <= 0x3003) || (cp >= 0x3008 && cp <= 0x3011) ||
         (cp >= 0x3014 && cp <= 0x301F) || (cp >= 0x2010 && cp <= 0x2027) || cp == 0x00A0 ||
         cp == 0x3000 || cp == 0xFF61 || cp == 0xFF64;
}

bool contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

std::vector<std::string> normalized_all(const std::vector<std::string>& keywords) {
  std::vector<std::string> out;
  for (const auto& k : keywords) out.push_back(normalize_reply(k));
  return out;
}

std::optional<int> nps_score(const std::string& normalized) {
  if (normalized.empty() || normalized.size() > 2) return std::nullopt;
  if (!std::all_of(normalized.begin(), normalized.end(),
                   [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  int v = std::stoi(normalized);
  if (v > 10) return std::nullopt;
  return v;
}

void add_action(std::string& actions, std::string_view a) {
  if (!actions.empty()) actions += '+';
  actions += a;
}

// E.164 forms ("" when invalid) of numbers prepared by prepare_inbound_phone, until used.
struct phone_memo {
  std::mutex mutex;
  std::unordered_map<std::string, std::string> e164;  // guarded by mutex
};

phone_memo& prepared_phones() {
  static phone_memo memo;
  return memo;
}

constexpr std::size_t max_prepared_phones = 4096;

// The sender's number as stored: its E.164 form, or the text as received when it is not valid.
std::string inbound_phone(const std::string& from, std::string_view region) {
  if (from.starts_with('+')) {
    auto& memo = prepared_phones();
    std::lock_guard lock(memo.mutex);
    if (auto it = memo.e164.find(from); it != memo.e164.end()) {
      auto e164 = std::move(it->second);
      memo.e164.erase(it);
      return e164.empty() ? from : e164;
    }
  }
  auto phone = normalize_phone(from, region);
  return phone.e164.empty() ? from : phone.e164;
}

// Queues a follow-up step for the contact who replied, due at its `at` counted from the reply
// in their time zone, valid until the end of that local day (like a scheduled step).
void enqueue_follow_up(store& s, const reply_policy& policy, const reply_keyword& k,
                       const reply_attribution& replied_to, const reply_row& row, time_point now) {
  auto found = s.find_contact(row.phone);
  const std::string tz(recipient_timezone(found ? std::string_view(found->tz) : std::string_view(),
                                          row.phone, policy.default_timezone));
  // Versions stored before follow-ups had their `at` went at once, as they did then.
  auto due = k.step_at.empty() ? std::optional<time_point>(now)
                               : campaign::follow_up_due(k.step_at, now, tz);
  if (!due) {
    spdlog::warn("reply {}: follow-up step {} has an unreadable `at: {}`; not queued", row.id,
                 k.step, k.step_at);
    return;
  }
  new_message m{replied_to.campaign, k.step, k.step_variant.empty() ? "A" : k.step_variant,
                row.contact_id,      *due,   campaign::end_of_local_day(*due, tz)};
  // In a journey the follow-up belongs to the occurrence replied to: one per occurrence.
  m.occurrence = replied_to.occurrence;
  m.context = replied_to.context;
  s.enqueue({m});
}

}  // namespace

void prepare_inbound_phone(const std::string& from) {
  if (!from.starts_with('+')) return;
  remember_inbound_phone(from, normalize_phone(from, {}).e164);  // no region after a '+'
}

void remember_inbound_phone(const std::string& from, std::string e164) {
  if (!from.starts_with('+')) return;
  auto& memo = prepared_phones();
  std::lock_guard lock(memo.mutex);
  if (memo.e164.size() >= max_prepared_phones) memo.e164.clear();
  memo.e164.insert_or_assign(from, std::move(e164));
}

std::string normalize_reply(std::string_view text) {
  std::string out;
  bool pending_space = false;
  for (std::size_t i = 0; i < text.size();) {
    char32_t cp = next_code_point(text, i);
    if (cp >= 0xFF01 && cp <= 0xFF5E) cp -= 0xFEE0;  // full-width ASCII
    if (is_space_or_punct(cp)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    if (cp >= 'a' && cp <= 'z') cp -= 'a' - 'A';
    append_utf8(out, cp);
  }
  return out;
}

reply_policy make_reply_policy(const config::engine_config& config) {
  reply_policy p;
  p.opt_out = normalized_all(config.policy.opt_out_keywords);
  p.opt_in = normalized_all(config.policy.opt_in_keywords);
  p.help = normalized_all(config.policy.help_keywords);
  p.default_region = config.default_region;
  p.default_timezone = config.default_timezone;
  for (const auto& [name, s] : config.senders) {
    sender_replies r;
    r.help_text = s.help_text;
    r.opt_out_reply = s.opt_out_reply;
    r.opt_in_reply = s.opt_in_reply;
    p.senders[name] = std::move(r);
  }
  return p;
}

inbound_outcome handle_inbound(store& s, const reply_policy& policy, const std::string& provider,
                               const inbound_event& event, time_point now) {
  inbound_outcome out;
  reply_row& row = out.reply;
  row.provider = provider;
  row.carrier_id = event.carrier_id;
  row.phone = inbound_phone(event.from, policy.default_region);
  row.to = event.to;
  row.text = event.text;
  row.normalized = normalize_reply(event.text);
  row.at = now;
  s.transaction([&] {
    row.contact_id = s.ensure_contact(row.phone, now);
    row.id = s.record_reply(row);
    if (row.id == 0) {
      out.duplicate = true;
      return;
    }
    auto attribution = s.attribute_reply(row.contact_id, now);
    // Who answers: the attributed campaign's sender, else the last one that wrote to them.
    std::optional<std::pair<std::string, std::string>> via;
    if (attribution) {
      via.emplace(attribution->campaign, attribution->sender);
      row.campaign = attribution->campaign;
      row.message_id = attribution->message_id;
    } else {
      via = s.last_sender(row.contact_id);
    }
    auto respond = [&](const std::string& text) {
      if (text.empty()) return;
      if (!via) {
        spdlog::warn("reply from {}: no campaign ever wrote to them, no sender to answer with",
                     mask_phone(row.phone));
        return;
      }
      auto id = s.enqueue_direct(via->first, row.contact_id, row.id, text, now);
      if (id > 0) out.queued.push_back(id);
    };
    auto sender_texts = [&]() -> const sender_replies* {
      if (!via) return nullptr;
      auto it = policy.senders.find(via->second);
      return it == policy.senders.end() ? nullptr : &it->second;
    };

    const std::string& n = row.normalized;
    if (contains(policy.opt_out, n)) {
      row.keyword = n;
      add_action(row.action, "opt_out");
      bool already = s.opted_out_at(row.contact_id).has_value();
      out.suppressed = s.opt_out(row.contact_id, "reply: " + row.text, now);
      // One confirmation: a repeated STOP is not answered again.
      if (!already) {
        if (auto* t = sender_texts()) respond(t->opt_out_reply);
      }
    } else if (contains(policy.opt_in, n)) {
      row.keyword = n;
      add_action(row.action, "opt_in");
      if (s.opt_in(row.contact_id, now)) {
        if (auto* t = sender_texts()) respond(t->opt_in_reply);
      }
    } else if (contains(policy.help, n)) {
      row.keyword = n;
      add_action(row.action, "help");
      if (auto* t = sender_texts()) respond(t->help_text);
    } else if (attribution) {
      const reply_keyword* match = nullptr;
      for (const auto& k : attribution->replies.keywords)
        if (k.normalized == n) match = &k;
      if (!match) {
        if (auto score = nps_score(n)) {
          for (const auto& k : attribution->replies.keywords) {
            if (k.action == "nps") {
              match = &k;
              row.nps_score = score;
            }
          }
        }
      }
      if (match) {
        row.keyword = match->keyword;
        bool opted_out = s.opted_out_at(row.contact_id).has_value();
        if (!match->tag.empty()) {
          s.add_tag(row.contact_id, match->tag, now);
          add_action(row.action, "tag:" + match->tag);
        }
        if (match->action == "frequency") {
          add_action(row.action, "frequency");
          if (match->max > 0 && match->per.count() > 0) {
            s.set_preference(row.contact_id, {match->max, match->per},
                             "reply:" + attribution->campaign + ":" + match->keyword, now);
          }
        } else if (match->action == "nps") {
          add_action(row.action, "nps");
        } else if (match->action == "follow_up" && !opted_out) {
          add_action(row.action, "follow_up:" + match->step);
          enqueue_follow_up(s, policy, *match, *attribution, row, now);
        }
        if (!match->respond.empty() && !opted_out) {
          add_action(row.action, "respond");
          respond(match->respond);
        }
      }
    }
    s.update_reply(row);
  });
  return out;
}

}  // namespace pigeon::engine::inbound
