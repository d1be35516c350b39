// pigeon report NAME: a campaign's results as text, JSON, CSV or one HTML page
// (engine/report/report.hpp); reads the database directly.
#include <unistd.h>

#include <boost/json/serialize.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "engine/cli/commands.hpp"
#include "engine/report/report.hpp"

namespace pigeon::engine::cli {

namespace {

// Writes `content` to `path` whole or not at all: a temporary file beside it, flushed to disk,
// then renamed over it. Returns "" on success, else why (the temporary file is removed).
std::string write_whole(const std::string& path, const std::string& content) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path tmp = target.parent_path() /
                       ("." + target.filename().string() + ".tmp-" + std::to_string(::getpid()));
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return std::strerror(errno);
  bool ok = std::fwrite(content.data(), 1, content.size(), f) == content.size();
  int err = ok ? 0 : errno;
  if (std::fflush(f) != 0 && ok) ok = false, err = errno;
  if (ok && ::fsync(::fileno(f)) != 0) ok = false, err = errno;
  if (std::fclose(f) != 0 && ok) ok = false, err = errno;
  std::error_code ec;
  if (ok) {
    fs::rename(tmp, target, ec);
    if (!ec) return "";
  }
  fs::remove(tmp, ec);
  return ok ? "cannot rename the written file into place" : std::strerror(err ? err : EIO);
}

int report(const context& ctx, const std::string& name, const std::string& csv,
           const std::string& html) {
  auto cfg = ctx.engine_config(false, config::secrets::leave_unset);
  auto db = ctx.open_store(cfg);
  auto r = report::build_report(*db, name, report::prices_from(cfg), engine::system_clock().now());
  if (!r) {
    std::cerr << "pigeon: no campaign named '" << name
              << "'; campaigns: " << report::campaign_names(*db) << "\n";
    return 2;
  }
  int status = 0;
  for (const auto& [path, render] :
       {std::pair{csv, &report::render_csv}, std::pair{html, &report::render_html}}) {
    if (path.empty()) continue;
    if (auto why = write_whole(path, render(*r)); !why.empty()) {
      std::cerr << "pigeon: cannot write the report to " << path << ": " << why
                << " (nothing written there; choose a writable path)\n";
      status = 2;
    } else if (!ctx.json) {
      std::cout << "wrote " << path << "\n";
    }
  }
  if (ctx.json)
    std::cout << boost::json::serialize(report::to_json(*r)) << "\n";
  else if (csv.empty() && html.empty())
    std::cout << report::render_text(*r);
  return status;
}

}  // namespace

void register_report(CLI::App& app, context& ctx, int& exit_code) {
  auto* r = app.add_subcommand(
      "report", "a campaign's results: funnel per step and variant with rates, A/B test, timeline");
  static std::string name, csv, html;
  r->add_option("name", name, "the campaign")->required();
  r->add_option("--csv", csv, "write one CSV row per step x variant x day (UTC) to this file");
  r->add_option("--html", html, "write the report as one self-contained HTML page to this file");
  r->add_flag("--json", ctx.json, "JSON output");
  r->callback([&] { exit_code = report(ctx, name, csv, html); });
}

}  // namespace pigeon::engine::cli
