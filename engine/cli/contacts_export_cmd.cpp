// pigeon contacts export FILE.csv: every contact as a CSV that `contacts import` reads back
// unchanged (engine/contacts/contacts_csv.hpp), written to a temporary file renamed into place.
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "engine/cli/contacts_verbs.hpp"
#include "engine/cli/progress.hpp"
#include "engine/contacts/contacts_csv.hpp"

namespace pigeon::engine::cli {

namespace {

// A file written beside its destination and renamed onto it by commit(): a reader of `path`
// sees the old file or the whole new one, never a part. Removed unless committed.
class staged_file {
 public:
  explicit staged_file(std::string path)
      : path_(std::move(path)), temp_(path_ + ".partial-" + std::to_string(::getpid())) {
    file_ = std::fopen(temp_.c_str(), "wbx");
    if (!file_) {
      error_ = std::strerror(errno);
      committed_ = true;  // nothing of ours to remove (the name may be another's file)
    }
  }
  ~staged_file() {
    if (file_) std::fclose(file_);
    if (!committed_) std::remove(temp_.c_str());
  }
  staged_file(const staged_file&) = delete;
  staged_file& operator=(const staged_file&) = delete;

  // The first failure (strerror text), or "" while all is well.
  const std::string& error() const { return error_; }

  void write(std::string& buffer) {
    if (error_.empty() && std::fwrite(buffer.data(), 1, buffer.size(), file_) != buffer.size())
      error_ = std::strerror(errno);
    buffer.clear();
  }

  // Flushes to disk and renames onto the destination. False (error() says why) on failure.
  bool commit() {
    if (!error_.empty()) return false;
    bool ok = std::fflush(file_) == 0 && ::fsync(::fileno(file_)) == 0;
    ok = std::fclose(file_) == 0 && ok;
    file_ = nullptr;
    if (ok && std::rename(temp_.c_str(), path_.c_str()) == 0) return committed_ = true;
    error_ = std::strerror(errno);
    return false;
  }

 private:
  std::string path_, temp_;
  std::FILE* file_ = nullptr;
  std::string error_;
  bool committed_ = false;
};

}  // namespace

int export_contacts(const context& ctx, const std::string& file) {
  auto cfg = ctx.engine_config(false, config::secrets::leave_unset);
  auto db = ctx.open_reader(cfg);
  staged_file out(file);
  if (!out.error().empty()) {
    std::cerr << "pigeon: cannot write " << file << ": " << out.error() << " (nothing written)\n";
    return 2;
  }
  // One read transaction: the header's names and the rows come from the same snapshot, even
  // with an engine or an import writing meanwhile.
  engine::store::contacts_summary summary;
  std::string buffer;
  std::vector<std::pair<std::string, std::string>> problems;  // phone, why
  std::size_t problem_count = 0;
  std::int64_t rows = 0;
  progress_bar bar("exported", 0, !ctx.json);
  db->transaction([&] {
    summary = db->summarize_contacts();
    bar.set_total(summary.count);
    buffer = contacts::contacts_csv_header(summary.attributes);
    buffer.reserve(1 << 21);
    db->for_each_contact([&](const engine::contact& c) {
      contacts::append_contact_csv_row(buffer, c, summary.attributes);
      if (auto why = contacts::contact_csv_problem(c); !why.empty()) {
        if (problems.size() < 20) problems.emplace_back(c.phone, std::move(why));
        ++problem_count;
      }
      if (buffer.size() >= (1 << 20)) out.write(buffer);
      if (++rows % 4096 == 0) bar.update(rows);
    });
  });
  out.write(buffer);
  bar.update(rows);
  bar.finish();
  if (!out.commit()) {
    std::cerr << "pigeon: cannot write " << file << ": " << out.error() << " (nothing written)\n";
    return 2;
  }
  // A contact the store cannot decode was skipped (and named above, by the store): the file
  // is not the whole list then.
  auto unreadable = summary.count - rows;
  if (unreadable > 0)
    std::cerr << file << ": " << unreadable
              << " contacts could not be read and are not in the file (named above)\n";
  if (ctx.json) {
    boost::json::array p;
    for (const auto& [phone, why] : problems) p.push_back({{"phone", phone}, {"reason", why}});
    std::cout << boost::json::serialize(boost::json::object{{"file", file},
                                                            {"exported", rows},
                                                            {"not_round_trip", problem_count},
                                                            {"unreadable", unreadable},
                                                            {"problems", std::move(p)}})
              << "\n";
  } else {
    for (const auto& [phone, why] : problems)
      std::cerr << file << ": " << phone << ": " << why << " (an import would change it)\n";
    if (problem_count > problems.size())
      std::cerr << file << ": and " << problem_count - problems.size() << " more such contacts\n";
    std::cout << "exported " << rows << " contacts to " << file << "\n";
  }
  return problem_count == 0 && unreadable <= 0 ? 0 : 1;
}

}  // namespace pigeon::engine::cli
