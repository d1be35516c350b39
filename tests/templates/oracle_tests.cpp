// Compares pigeon's segment counter with Twilio's sms-segments-calculator (npm), installed into
// a temporary folder at test time. Skips, saying why, where node/npm or the registry is missing.
// PIGEON_ORACLE_PREFIX=DIR uses an existing `npm install --prefix DIR sms-segments-calculator`.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "templates/segments.hpp"

namespace fs = std::filesystem;
using namespace pigeon::templates;

namespace {

std::string utf8(char32_t cp) {
  std::string s;
  append_utf8(s, cp);
  return s;
}

std::string repeat(std::string_view s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out.append(s);
  return out;
}

std::vector<std::string> generate() {
  std::vector<std::string> v;
  const std::string ext = "^{}\\[~]|\f" + utf8(0x20AC);
  // ASCII around every boundary.
  for (int n : {0,   1,   2,   69,  70,  71,  152, 153, 154, 159, 160, 161,
                305, 306, 307, 308, 458, 459, 460, 461, 612, 613, 1000}) {
    v.push_back(std::string(static_cast<std::size_t>(n), 'a'));
  }
  // Extension characters (two septets) straddling part boundaries.
  for (std::size_t i = 0; i < ext.size(); ++i) {
    std::string ch = ext[i] == '\xE2' ? utf8(0x20AC) : std::string(1, ext[i]);
    if (ext[i] == '\xE2') i += 2;
    for (int before : {0, 151, 152, 153, 158, 159, 160, 304, 305, 306}) {
      for (int after : {0, 1, 7, 160}) {
        v.push_back(std::string(static_cast<std::size_t>(before), 'x') + ch +
                    std::string(static_cast<std::size_t>(after), 'y'));
      }
    }
  }
  v.push_back(repeat("{", 80));
  v.push_back(repeat("{", 81));
  v.push_back(repeat(utf8(0x20AC), 77) + "a");
  v.push_back(repeat("é", 200) + "ÇΔ€");
  // CJK around every boundary.
  for (int n : {1, 66, 67, 68, 69, 70, 71, 72, 133, 134, 135, 136, 201, 202, 203, 400}) {
    v.push_back(repeat("咖", n));
  }
  // Emoji (surrogate pairs) and grapheme clusters straddling UCS-2 boundaries.
  const std::string emoji[] = {
      utf8(0x1F600),                  // 😀
      utf8(0x1F44D) + utf8(0x1F3FD),  // 👍🏽 skin tone
      utf8(0x1F468) + utf8(0x200D) + utf8(0x1F469) + utf8(0x200D) + utf8(0x1F467),  // family
      utf8(0x1F1E8) + utf8(0x1F1F3),                                                // 🇨🇳 flag
      utf8(0x2764) + utf8(0xFE0F),                                                  // ❤️
      "e" + utf8(0x0301),                                             // e + combining acute
      "1" + utf8(0xFE0F) + utf8(0x20E3),                              // keycap
      utf8(0x1F1E8) + utf8(0x1F1F3) + utf8(0x1F1FA) + utf8(0x1F1F8),  // two flags
  };
  for (const auto& e : emoji) {
    for (int before : {0, 62, 63, 64, 65, 66, 67, 68, 69, 70, 128, 131, 132, 133, 134}) {
      v.push_back(std::string(static_cast<std::size_t>(before), 'a') + e + "b");
      v.push_back(repeat("咖", before) + e + e);
    }
  }
  v.push_back(repeat(utf8(0x1F600), 35));
  v.push_back(repeat(utf8(0x1F600), 36));
  v.push_back(repeat(utf8(0x1F600), 34) + "a");
  // Mixed scripts and realistic messages.
  const std::string mixed[] = {
      "【咖啡】王小明,您的双11券册已到,季卡+限量杯等你来领 回T退订",
      "Hi Ana, your order #123 ships today. Reply STOP to opt out.",
      "Привет! Ваш заказ готов. Ответьте СТОП для отказа.",
      "مرحبا! طلبك جاهز.",
      "नमस्ते, आपका ऑर्डर तैयार है। क्षत्रिय",
      "안녕하세요 주문이 준비되었습니다",
      "สวัสดีครับ คำสั่งซื้อของคุณพร้อมแล้ว",
      "Crème brûlée at 5€ {today} [only] ~ham|eggs~ \\o/ ^^",
      "line1\nline2\r\nline3\rend",
      "tab\there",
      "“smart quotes” — and … ellipsis",
      "NBSP\xC2\xA0here and a back`tick",
      "ç vs Ç",
      "Ÿ ÿ ß Œ œ",
  };
  for (const auto& m : mixed) {
    for (int k : {1, 2, 3, 5, 8}) v.push_back(repeat(m, k));
  }
  // Invalid UTF-8.
  for (std::string bad : {"\xFF", "abc\xC3", "\xE0\x80\x80", "\xED\xA0\x80x", "\xF4\x90\x80\x80",
                          "\xC0\xAF", "\xE2\x82", "ok\x80\x80ok", "\xF0\x9F\x98"}) {
    v.push_back(bad);
    v.push_back(std::string(66, 'a') + bad + std::string(5, 'b'));
  }
  // Every code point up to U+04FF after a letter, and the general punctuation block.
  for (char32_t cp = 0; cp < 0x500; ++cp) v.push_back("A" + utf8(cp));
  for (char32_t cp = 0x2000; cp < 0x2070; ++cp) v.push_back("A" + utf8(cp));
  // Pseudo-random mixes (deterministic).
  const std::string pool[] = {"a",          "Z",          " ",           "0",  "é", "€",
                              "{",          "\n",         "咖",          "啡", "😀", "Δ",
                              utf8(0x0301), utf8(0x200D), utf8(0x1F3FD), "—",  "’", "…"};
  std::uint32_t seed = 12345;
  for (int i = 0; i < 300; ++i) {
    seed = seed * 1103515245u + 12345u;
    const int len = static_cast<int>((seed >> 8) % 420);
    const bool gsm_only = i % 3 == 0;
    std::string s;
    for (int j = 0; j < len; ++j) {
      seed = seed * 1103515245u + 12345u;
      const auto k = (seed >> 16) % (gsm_only ? 8u : std::size(pool));
      s += pool[k];
    }
    v.push_back(s);
  }
  return v;
}

std::string hex(std::string_view s) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

std::string describe(const segment_info& info) {
  std::ostringstream os;
  os << to_string(info.enc) << ' ' << info.segments << ' ';
  for (std::size_t i = 0; i < info.units.size(); ++i) os << (i ? "," : "") << info.units[i];
  os << ' ';
  if (info.non_gsm.empty()) os << '-';
  for (std::size_t i = 0; i < info.non_gsm.size(); ++i) {
    os << (i ? "," : "") << static_cast<std::uint32_t>(info.non_gsm[i]);
  }
  return os.str();
}

bool run(const std::string& command) { return std::system(command.c_str()) == 0; }

}  // namespace

TEST_CASE("pigeon counts encoding, segments and units exactly as Twilio's calculator does") {
  if (!run("node --version > /dev/null 2>&1")) {
    MESSAGE("SKIPPED: node is not installed, so the sms-segments-calculator oracle cannot run");
    return;
  }
  const fs::path work = fs::temp_directory_path() / ("pigeon-oracle-" + std::to_string(getpid()));
  fs::create_directories(work);
  std::string prefix = work.string();
  if (const char* given = std::getenv("PIGEON_ORACLE_PREFIX")) {
    prefix = given;
  } else if (!run("npm --version > /dev/null 2>&1")) {
    MESSAGE("SKIPPED: npm is not installed, so sms-segments-calculator cannot be installed");
    fs::remove_all(work);
    return;
  } else if (!run("npm install --silent --no-audit --no-fund --prefix '" + prefix +
                  "' sms-segments-calculator > '" + prefix + "/npm.log' 2>&1")) {
    std::ifstream log(work / "npm.log");
    std::stringstream text;
    text << log.rdbuf();
    MESSAGE("SKIPPED: `npm install sms-segments-calculator` failed:\n" << text.str());
    fs::remove_all(work);
    return;
  }

  const std::vector<std::string> inputs = generate();
  {
    std::ofstream in(work / "input.txt");
    for (const auto& s : inputs) in << hex(s) << '\n';
  }
  REQUIRE(run("node '" PIGEON_ORACLE_SCRIPT "' '" + prefix + "' '" + (work / "input.txt").string() +
              "' '" + (work / "output.txt").string() + "'"));
  std::ifstream out(work / "output.txt");
  std::vector<std::string> expected;
  for (std::string line; std::getline(out, line);) expected.push_back(line);
  REQUIRE(expected.size() == inputs.size());

  int disagreements = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const std::string ours = describe(count_segments(inputs[i])) + " ; " +
                             describe(count_segments(smart_encode(inputs[i])));
    if (ours != expected[i]) {
      ++disagreements;
      if (disagreements <= 20) {
        FAIL_CHECK("string #" << i << " (hex " << hex(inputs[i]).substr(0, 120)
                              << ")\n  pigeon: " << ours << "\n  oracle: " << expected[i]);
      }
    }
  }
  MESSAGE("compared " << inputs.size() << " strings (plain and smart-encoded) with the oracle: "
                      << disagreements << " disagreements");
  CHECK(disagreements == 0);
  fs::remove_all(work);
}
