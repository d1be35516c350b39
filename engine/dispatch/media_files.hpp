#pragma once
// MMS media kept in a local folder (the engine config's `media_dir`) and served to carriers.
//
// A campaign names a local media file by a path relative to the campaign file's folder (or an
// absolute one). It is accepted only when its canonical path (symbolic links and `..` resolved)
// is inside media_dir's canonical path, it is a regular file, and its first bytes say it is a
// type carriers accept (content decides; a file name whose extension names another type is
// refused, so a renamed file never goes out under a false name). apply stores it as
// `media:<path relative to media_dir>`; at send the carrier gets
// `{public_url}/media/<that path, each segment percent-encoded>`, which the webhooks listener
// answers from media_dir with the same checks made again at request time.
//
// Everything is a value; nothing throws. Threading: any thread (plain file system calls).
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pigeon::engine::dispatch {

// How a local media entry is stored in a campaign template: "media:coupons/book.png".
inline constexpr std::string_view stored_media_prefix = "media:";

// The most bytes the webhooks listener serves from one media file (carriers take MMS of at most
// a few MB); a larger file is not served.
inline constexpr std::size_t max_served_media_bytes = 16 * 1024 * 1024;

// "http://" or "https://" (case-insensitive).
bool is_media_url(std::string_view entry);

// The content type a file name's extension names ("a.JPG" -> "image/jpeg"); empty when unknown.
std::string media_type_for_extension(std::string_view path);

// The content type of a media file by its first bytes (16 are enough): image/jpeg, image/png,
// image/gif, video/mp4, audio/mp4 (an M4A), video/3gpp, audio/amr, audio/mpeg (ID3 or an MPEG
// audio frame), audio/ogg, audio/wav. Empty when none of these.
std::string sniff_media_type(std::string_view head);

// A local media file, checked. `error` empty: usable.
struct local_media {
  std::string error;
  std::string relative;  // under media_dir, '/'-separated ("coupons/book.png")
  std::string path;      // canonical absolute path
  std::string content_type;
  long long bytes = -1;
};

// Checks a campaign's local media entry: `entry` relative to `base_dir` (the campaign file's
// folder) unless absolute, against `media_dir` (empty: not configured, which is an error saying
// to set it). Errors say where the entry leads and name media_dir (the caller names the entry).
local_media resolve_local_media(std::string_view entry, const std::string& base_dir,
                                const std::string& media_dir);

// A template's media as apply stores them: a local entry that resolves (resolve_local_media)
// becomes `media:<relative>`; URLs and entries that do not resolve (refused by the budget check
// in the same apply) are kept as written.
std::vector<std::string> stored_media(const std::vector<std::string>& entries,
                                      const std::string& base_dir, const std::string& media_dir);

// A request for `/media/<url_path>` (url_path still percent-encoded). status 200 with the
// content and its type, or 404 with the reason (for the log, never sent: a prober learns
// nothing about what exists outside media_dir).
struct served_media {
  int status = 404;
  std::string content_type;
  std::string body;
  std::string reason;
};
served_media read_served_media(const std::string& media_dir, std::string_view url_path);

// `{public_url}/media/<relative>` with each path segment percent-encoded (RFC 3986 unreserved
// characters kept).
std::string media_url(std::string_view public_url, std::string_view relative);

// The media of a stored template as the carrier gets them: URLs as they are, stored local media
// as media_url(public_url, ...). nullopt with `error` set when one cannot be sent (no
// public_url; a local path stored by a pigeon older than media_dir).
std::optional<std::vector<std::string>> media_for_sending(const std::vector<std::string>& stored,
                                                          std::string_view public_url,
                                                          std::string& error);

}  // namespace pigeon::engine::dispatch
