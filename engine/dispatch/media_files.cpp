#include "engine/dispatch/media_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <system_error>

#include "templates/utf8.hpp"

namespace pigeon::engine::dispatch {
namespace {

namespace fs = std::filesystem;

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Types of the ISO base media file format (an `ftyp` box): the brand does not reliably tell
// audio from video, so within this family the file name's extension chooses.
bool iso_media(std::string_view type) {
  return type == "video/mp4" || type == "audio/mp4" || type == "video/3gpp";
}

// Whether `dir` (canonical) strictly contains `file` (canonical).
bool inside(const fs::path& dir, const fs::path& file) {
  auto f = file.begin();
  for (const auto& part : dir) {
    if (f == file.end() || *f != part) return false;
    ++f;
  }
  return f != file.end();
}

// A file's bytes: the first `head` of them, or all of them when `whole` (up to `limit`).
struct file_bytes {
  std::string error;  // empty: read
  long long size = -1;
  std::string data;
};

// Opens `path` (canonical: no symbolic link in it, so O_NOFOLLOW only closes the window in
// which its last component could be swapped for one) and reads it.
file_bytes read_regular_file(const std::string& path, bool whole, std::size_t limit) {
  file_bytes out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    out.error = std::strerror(errno);
    return out;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    out.error = "not a regular file";
    ::close(fd);
    return out;
  }
  out.size = static_cast<long long>(st.st_size);
  if (whole && static_cast<std::size_t>(st.st_size) > limit) {
    out.error = "larger than " + std::to_string(limit) + " bytes";
    ::close(fd);
    return out;
  }
  std::size_t want =
      whole ? static_cast<std::size_t>(st.st_size) : std::min<std::size_t>(64, limit);
  out.data.resize(want);
  std::size_t got = 0;
  while (got < want) {
    auto n = ::read(fd, out.data.data() + got, want - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  out.data.resize(got);
  return out;
}

bool plain_text(std::string_view data) {
  return !templates::first_invalid_utf8(data) && data.find('\0') == std::string_view::npos;
}

// The type a file goes out as, decided by its content (`bytes`: its first bytes, or all of it
// for a text file), or empty with `error` saying why it cannot go out.
std::string decide_type(std::string_view name, std::string_view bytes, bool whole,
                        std::string& error) {
  const auto by_name = media_type_for_extension(name);
  auto by_content = sniff_media_type(bytes);
  if (by_content.empty() && by_name == "text/plain" && whole && plain_text(bytes)) return by_name;
  if (by_content.empty()) {
    error =
        "its content is not a media type carriers accept (its first bytes match no JPEG, PNG, "
        "GIF, MP4/3GP, AMR, MP3, AAC, Ogg or WAV file" +
        std::string(by_name == "text/plain" ? ", and it is not UTF-8 text" : "") +
        "): a renamed file is not sent";
    return {};
  }
  if (iso_media(by_content) && iso_media(by_name)) return by_name;
  if (!by_name.empty() && by_name != by_content) {
    error = "its content is " + by_content + " but its name says " + by_name +
            ": rename it to match (the content decides what carriers are told)";
    return {};
  }
  return by_content;
}

// Splits a '/'-separated relative path; false when a segment is empty, `.`, `..` or hidden.
bool plain_segments(std::string_view path, std::vector<std::string_view>& out) {
  while (true) {
    auto slash = path.find('/');
    auto seg = path.substr(0, slash);
    if (seg.empty() || seg.front() == '.') return false;
    out.push_back(seg);
    if (slash == std::string_view::npos) return true;
    path.remove_prefix(slash + 1);
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

}  // namespace

bool is_media_url(std::string_view entry) {
  auto l = lower(entry.substr(0, 8));
  return l.starts_with("http://") || l.starts_with("https://");
}

std::string media_type_for_extension(std::string_view path) {
  auto q = path.find_first_of("?#");
  if (q != std::string_view::npos && is_media_url(path)) path = path.substr(0, q);
  auto dot = path.rfind('.');
  if (dot == std::string_view::npos || path.find('/', dot) != std::string_view::npos) return {};
  static const std::map<std::string, std::string, std::less<>> types{
      {"jpg", "image/jpeg"},    {"jpeg", "image/jpeg"},     {"png", "image/png"},
      {"gif", "image/gif"},     {"txt", "text/plain"},      {"amr", "audio/amr"},
      {"mp3", "audio/mpeg"},    {"m4a", "audio/mp4"},       {"aac", "audio/aac"},
      {"ogg", "audio/ogg"},     {"oga", "audio/ogg"},       {"wav", "audio/wav"},
      {"mp4", "video/mp4"},     {"3gp", "video/3gpp"},      {"webp", "image/webp"},
      {"svg", "image/svg+xml"}, {"pdf", "application/pdf"}, {"mov", "video/quicktime"}};
  auto it = types.find(lower(path.substr(dot + 1)));
  return it == types.end() ? std::string() : it->second;
}

std::string sniff_media_type(std::string_view h) {
  auto at = [&](std::size_t i) { return i < h.size() ? static_cast<unsigned char>(h[i]) : 256u; };
  auto starts = [&](std::size_t off, std::string_view magic) {
    return h.size() >= off + magic.size() && h.substr(off, magic.size()) == magic;
  };
  if (at(0) == 0xFF && at(1) == 0xD8 && at(2) == 0xFF) return "image/jpeg";
  if (starts(0, "\x89PNG\r\n\x1a\n")) return "image/png";
  if (starts(0, "GIF87a") || starts(0, "GIF89a")) return "image/gif";
  if (starts(4, "ftyp")) {
    auto brand = h.size() >= 12 ? lower(h.substr(8, 4)) : std::string();
    if (brand.starts_with("3gp") || brand.starts_with("3g2")) return "video/3gpp";
    if (brand == "m4a ") return "audio/mp4";
    return "video/mp4";
  }
  if (starts(0, "#!AMR\n")) return "audio/amr";
  if (starts(0, "ID3")) return "audio/mpeg";
  if (at(0) == 0xFF && h.size() >= 2 && (at(1) & 0xE0) == 0xE0) {
    if ((at(1) & 0xF6) == 0xF0) return "audio/aac";    // ADTS: 12-bit sync, layer 00
    if (((at(1) >> 1) & 3) != 0) return "audio/mpeg";  // an MPEG audio frame (MP3)
  }
  if (starts(0, "OggS")) return "audio/ogg";
  if (starts(0, "RIFF") && starts(8, "WAVE")) return "audio/wav";
  return {};
}

local_media resolve_local_media(std::string_view entry, const std::string& base_dir,
                                const std::string& media_dir) {
  local_media out;
  if (media_dir.empty()) {
    out.error =
        "a local file needs the engine config's media_dir: set media_dir to the folder carriers "
        "may fetch media from (served as {public_url}/media/...) and put the file in it, or "
        "use an http(s) URL";
    return out;
  }
  std::error_code ec;
  const fs::path dir = fs::canonical(media_dir, ec);
  if (ec || !fs::is_directory(dir)) {
    out.error = "media_dir " + media_dir + " is not a readable folder" +
                (ec ? " (" + ec.message() + ")" : std::string());
    return out;
  }
  fs::path written(entry);
  fs::path p = written.is_absolute() || base_dir.empty() ? written : fs::path(base_dir) / written;
  p = fs::absolute(p, ec).lexically_normal();
  // What is read is this canonical path: every link resolved, so it is checked, not the name.
  const fs::path where = ec ? fs::path() : fs::weakly_canonical(p, ec);
  if (ec) {
    out.error = "cannot resolve " + p.string() + " (" + ec.message() + ")";
    return out;
  }
  if (!inside(dir, where)) {
    const bool link = inside(dir, p);
    out.error = "leads to " + where.string() + (link ? " (through a symbolic link)" : "") +
                ", outside media_dir " + dir.string() +
                ": local media are served to carriers from media_dir only (no `..`, no "
                "absolute path or link out of it); put the file in it";
    return out;
  }
  out.relative = where.lexically_relative(dir).generic_string();
  std::vector<std::string_view> segments;
  if (!plain_segments(out.relative, segments)) {
    out.error = out.relative + " in media_dir " + dir.string() +
                " is a hidden file or folder (a name starting with `.`), which is never served";
    return out;
  }
  out.path = where.string();
  const bool text = media_type_for_extension(entry) == "text/plain";
  auto file = read_regular_file(out.path, text, max_served_media_bytes);
  if (!file.error.empty()) {
    out.error = "cannot read " + out.path + ": " + file.error;
    return out;
  }
  out.bytes = file.size;
  std::string why;
  out.content_type = decide_type(entry, file.data, text, why);
  if (out.content_type.empty()) out.error = out.path + ": " + why;
  return out;
}

std::vector<std::string> stored_media(const std::vector<std::string>& entries,
                                      const std::string& base_dir, const std::string& media_dir) {
  std::vector<std::string> out;
  out.reserve(entries.size());
  for (const auto& entry : entries) {
    if (is_media_url(entry)) {
      out.push_back(entry);
      continue;
    }
    auto local = resolve_local_media(entry, base_dir, media_dir);
    out.push_back(local.error.empty() ? std::string(stored_media_prefix) + local.relative : entry);
  }
  return out;
}

served_media read_served_media(const std::string& media_dir, std::string_view url_path) {
  served_media out;
  if (media_dir.empty()) {
    out.reason = "no media_dir is configured";
    return out;
  }
  auto decoded = percent_decode(url_path);
  std::vector<std::string_view> segments;
  if (!decoded || decoded->find('\0') != std::string::npos || !plain_segments(*decoded, segments)) {
    out.reason = "not a plain relative path (empty, `.`, `..` or hidden segment, bad escape)";
    return out;
  }
  std::error_code ec;
  const fs::path dir = fs::canonical(media_dir, ec);
  if (ec) {
    out.reason = "media_dir " + media_dir + ": " + ec.message();
    return out;
  }
  const fs::path file = fs::canonical(dir / fs::path(*decoded), ec);
  if (ec) {
    out.reason = ec.message();
    return out;
  }
  if (!inside(dir, file)) {
    out.reason = "leads to " + file.string() + ", outside media_dir " + dir.string();
    return out;
  }
  auto bytes = read_regular_file(file.string(), true, max_served_media_bytes);
  if (!bytes.error.empty()) {
    out.reason = file.string() + ": " + bytes.error;
    return out;
  }
  std::string why;
  out.content_type = decide_type(*decoded, bytes.data, true, why);
  if (out.content_type.empty()) {
    out.reason = file.string() + ": " + why;
    return out;
  }
  out.status = 200;
  out.body = std::move(bytes.data);
  return out;
}

std::string media_url(std::string_view public_url, std::string_view relative) {
  while (!public_url.empty() && public_url.back() == '/') public_url.remove_suffix(1);
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out(public_url);
  out += "/media/";
  for (unsigned char c : relative) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '/') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += digits[c >> 4];
      out += digits[c & 15];
    }
  }
  return out;
}

std::optional<std::vector<std::string>> media_for_sending(const std::vector<std::string>& stored,
                                                          std::string_view public_url,
                                                          std::string& error) {
  std::vector<std::string> out;
  out.reserve(stored.size());
  for (const auto& entry : stored) {
    if (is_media_url(entry)) {
      out.push_back(entry);
    } else if (entry.starts_with(stored_media_prefix)) {
      auto relative = std::string_view(entry).substr(stored_media_prefix.size());
      if (public_url.empty()) {
        error = "local media `" + std::string(relative) +
                "` are fetched by the carrier from {public_url}/media/..., and the engine "
                "config has no public_url";
        return std::nullopt;
      }
      out.push_back(media_url(public_url, relative));
    } else {
      error = "media `" + entry +
              "` is a local path stored by an older pigeon (before media_dir): re-apply the "
              "campaign so it is checked against media_dir and served to the carrier";
      return std::nullopt;
    }
  }
  return out;
}

}  // namespace pigeon::engine::dispatch
