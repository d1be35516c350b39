// Local MMS media: type by content, confinement to media_dir, URLs for the carrier.
#include "engine/dispatch/media_files.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace pigeon::engine::dispatch {
namespace {

namespace fs = std::filesystem;

const std::string png = std::string("\x89PNG\r\n\x1a\n", 8) + std::string(100, 'p');
const std::string jpeg = "\xFF\xD8\xFF\xE0" + std::string(100, 'j');

// A temp folder with media/ (a.png, sub dir/b.jpg) and a file beside it.
struct media_folder {
  fs::path root = fs::temp_directory_path() / ("pigeon-media-" + std::to_string(::getpid()));
  fs::path media = root / "media";
  media_folder() {
    fs::remove_all(root);
    fs::create_directories(media / "sub dir");
    write(media / "a.png", png);
    write(media / "sub dir" / "b.jpg", jpeg);
    write(root / "outside.png", png);
  }
  ~media_folder() { fs::remove_all(root); }
  static void write(const fs::path& p, const std::string& bytes) {
    std::ofstream(p, std::ios::binary) << bytes;
  }
};

}  // namespace

TEST_CASE("media types are decided by the first bytes") {
  CHECK(sniff_media_type(png) == "image/png");
  CHECK(sniff_media_type(jpeg) == "image/jpeg");
  CHECK(sniff_media_type("GIF89a....") == "image/gif");
  CHECK(sniff_media_type(std::string("\0\0\0\x18"
                                     "ftyp3gp4",
                                     12)) == "video/3gpp");
  CHECK(sniff_media_type(std::string("\0\0\0\x18"
                                     "ftypisom",
                                     12)) == "video/mp4");
  CHECK(sniff_media_type(std::string("\0\0\0\x18"
                                     "ftypM4A ",
                                     12)) == "audio/mp4");
  CHECK(sniff_media_type("#!AMR\n...") == "audio/amr");
  CHECK(sniff_media_type("ID3\x04...") == "audio/mpeg");
  CHECK(sniff_media_type("\xFF\xFB\x90\x00") == "audio/mpeg");
  CHECK(sniff_media_type("\xFF\xF1\x50\x80") == "audio/aac");
  CHECK(sniff_media_type("OggS\0") == "audio/ogg");
  CHECK(sniff_media_type(std::string("RIFF\x24\0\0\0WAVEfmt ", 16)) == "audio/wav");
  CHECK(sniff_media_type("root:x:0:0:root:/root:/bin/bash") == "");
  CHECK(sniff_media_type("") == "");
  CHECK(sniff_media_type("\xFF") == "");
}

TEST_CASE("a local media file must resolve inside media_dir and be what its name says") {
  media_folder f;
  const auto campaigns = (f.root / "campaigns").string();
  auto ok = resolve_local_media("../media/sub dir/b.jpg", campaigns, f.media.string());
  CHECK(ok.error == "");
  CHECK(ok.relative == "sub dir/b.jpg");
  CHECK(ok.content_type == "image/jpeg");
  CHECK(ok.bytes == static_cast<long long>(jpeg.size()));

  SUBCASE("`..` out of it") {
    auto r = resolve_local_media("../media/../outside.png", campaigns, f.media.string());
    CHECK(r.error.find("outside media_dir " + fs::canonical(f.media).string()) !=
          std::string::npos);
  }
  SUBCASE("an absolute path outside it") {
    auto r = resolve_local_media("/etc/passwd", campaigns, f.media.string());
    CHECK(r.error.find("leads to /etc/passwd, outside media_dir") != std::string::npos);
  }
  SUBCASE("a symbolic link out of it") {
    fs::create_symlink("/etc/passwd", f.media / "x.png");
    auto r = resolve_local_media("../media/x.png", campaigns, f.media.string());
    CHECK(r.error.find("(through a symbolic link), outside media_dir") != std::string::npos);
    CHECK(r.bytes == -1);  // nothing read
  }
  SUBCASE("a link that stays inside is followed") {
    fs::create_symlink(f.media / "a.png", f.media / "alias.png");
    CHECK(resolve_local_media("../media/alias.png", campaigns, f.media.string()).relative ==
          "a.png");
  }
  SUBCASE("a renamed non-image") {
    media_folder::write(f.media / "passwd.png", "root:x:0:0:root:/root:/bin/bash\n");
    auto r = resolve_local_media("../media/passwd.png", campaigns, f.media.string());
    CHECK(r.error.find("not a media type carriers accept") != std::string::npos);
  }
  SUBCASE("a JPEG named .png") {
    media_folder::write(f.media / "photo.png", jpeg);
    auto r = resolve_local_media("../media/photo.png", campaigns, f.media.string());
    CHECK(r.error.find("its content is image/jpeg but its name says image/png") !=
          std::string::npos);
  }
  SUBCASE("a UTF-8 text part, and a hidden file") {
    media_folder::write(f.media / "terms.txt", "条款 terms\n");
    CHECK(resolve_local_media("../media/terms.txt", campaigns, f.media.string()).content_type ==
          "text/plain");
    media_folder::write(f.media / ".secret.png", png);
    CHECK(resolve_local_media("../media/.secret.png", campaigns, f.media.string())
              .error.find("hidden") != std::string::npos);
  }
  SUBCASE("no media_dir") {
    auto r = resolve_local_media("../media/a.png", campaigns, "");
    CHECK(r.error.find("set media_dir") != std::string::npos);
  }
}

TEST_CASE("the listener serves media_dir's files only, checked again at each request") {
  media_folder f;
  auto ok = read_served_media(f.media.string(), "sub%20dir/b.jpg");
  CHECK(ok.status == 200);
  CHECK(ok.content_type == "image/jpeg");
  CHECK(ok.body == jpeg);
  fs::create_symlink("/etc/passwd", f.media / "link.png");
  fs::create_symlink(f.root / "outside.png", f.media / "up.png");
  for (std::string path :
       {"../outside.png", "%2e%2e/outside.png", "sub%20dir/..%2F..%2Foutside.png", "link.png",
        "up.png", "", "sub%20dir", "sub%20dir/", "/etc/passwd", "%2Fetc%2Fpasswd", "a.png%00",
        "a.png%zz", "nothing.png"}) {
    CAPTURE(path);
    auto r = read_served_media(f.media.string(), path);
    CHECK(r.status == 404);
    CHECK(r.body.empty());
  }
  CHECK(read_served_media("", "a.png").status == 404);
}

TEST_CASE("stored media become URLs under public_url with each segment encoded") {
  CHECK(media_url("http://h:1/", "sub dir/券 1.png") ==
        "http://h:1/media/sub%20dir/%E5%88%B8%201.png");
  std::string error;
  auto urls = media_for_sending({"https://cdn.example/x.png", "media:a b.png"}, "http://h", error);
  REQUIRE(urls);
  CHECK(*urls == std::vector<std::string>{"https://cdn.example/x.png", "http://h/media/a%20b.png"});
  CHECK_FALSE(media_for_sending({"media:a.png"}, "", error));
  CHECK(error.find("no public_url") != std::string::npos);
  CHECK_FALSE(media_for_sending({"assets/old.png"}, "http://h", error));
  CHECK(error.find("re-apply the campaign") != std::string::npos);
  media_folder f;
  CHECK(stored_media({"../media/a.png", "https://cdn/x.png", "../outside.png"},
                     (f.root / "campaigns").string(), f.media.string()) ==
        std::vector<std::string>{"media:a.png", "https://cdn/x.png", "../outside.png"});
}

}  // namespace pigeon::engine::dispatch
