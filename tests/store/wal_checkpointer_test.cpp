// wal_checkpointer: checkpoints happen on their own thread, keep the WAL file bounded, and lose
// nothing; a store in WAL mode turns them on for `serve`.
#include "engine/store/sqlite/wal_checkpointer.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "engine/store/sqlite/database.hpp"
#include "tests/store/fixture.hpp"

using namespace pigeon::engine;
using namespace pigeon::engine::sqlite;
using pigeon::engine::test::temp_dir;

namespace {

// Writes `transactions` commits of 20 rows of 1 KB each (about 6 pages per commit).
void write_rows(sqlite::database& db, int transactions) {
  const std::string blob(1000, 'x');
  for (int t = 0; t < transactions; ++t) {
    db.exec("BEGIN");
    for (int i = 0; i < 20; ++i) {
      sqlite::query(db, "INSERT INTO rows (payload) VALUES (?1)").bind(1, blob).run();
    }
    db.exec("COMMIT");
  }
}

sqlite::database& open_wal(sqlite::database& db) {
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = FULL");
  db.exec("CREATE TABLE IF NOT EXISTS rows (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)");
  return db;
}

// A WAL database in a fresh directory with a checkpointer on its writer connection.
struct checkpointed_db {
  checkpointed_db(int threshold_pages, int restart_pages)
      : path(dir.file("w.db")),
        writer(path),
        checkpointer(open_wal(writer), threshold_pages, restart_pages) {}
  std::uintmax_t wal_bytes() const { return std::filesystem::file_size(path + "-wal"); }

  temp_dir dir;
  std::string path;
  sqlite::database writer;
  sqlite::wal_checkpointer checkpointer;
};

}  // namespace

TEST_CASE("a writer that never pauses keeps a bounded WAL while the thread checkpoints") {
  checkpointed_db db(/*threshold_pages=*/100, /*restart_pages=*/400);
  // ~12 MB through the WAL in 2,000 back-to-back commits: with no checkpoint at all the WAL
  // file would hold all of it (automatic checkpoints are off on this connection now).
  write_rows(db.writer, 2000);
  // Past 400 pages the writer restarts the WAL as soon as the thread's current pass ends: a few
  // hundred pages more on a loaded machine, far from the 12 MB written.
  CHECK(db.wal_bytes() < 6u * 1024 * 1024);
  CHECK(db.writer.query_int("SELECT count(*) FROM rows") == 40'000);
  // On a loaded machine the thread may first run after the last commit; it was asked to.
  for (int i = 0; i < 1000 && db.checkpointer.counts().background == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(db.checkpointer.counts().background > 0);
}

TEST_CASE("a writer that pauses leaves every checkpoint to the background thread") {
  checkpointed_db db(/*threshold_pages=*/100, /*restart_pages=*/2000);
  // Bursts of ~200 pages with a pause after each, as `serve` between claims: the thread copies
  // each burst completely, so the WAL starts over without the writer's help.
  for (int burst = 0; burst < 20; ++burst) {
    write_rows(db.writer, 35);
    auto before = db.checkpointer.counts().background;
    for (int i = 0; i < 400 && db.checkpointer.counts().background == before; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  // ~4,200 pages in all: had the WAL not started over without the writer's help, the writer
  // would have checkpointed at 2,000.
  auto counts = db.checkpointer.counts();
  CHECK(counts.background > 0);
  CHECK(counts.on_writer == 0);
}

TEST_CASE("the writer checkpoints itself when the background thread never does") {
  // A background threshold above the restart point: only the writer checkpoints.
  checkpointed_db db(/*threshold_pages=*/1'000'000, /*restart_pages=*/200);
  write_rows(db.writer, 400);
  auto counts = db.checkpointer.counts();
  CHECK(counts.background == 0);
  CHECK(counts.on_writer > 0);
  CHECK(db.wal_bytes() < 3u * 1024 * 1024);
}

TEST_CASE("rows written with background checkpoints are all there after reopening") {
  temp_dir dir;
  const auto path = dir.file("w.db");
  {
    sqlite::database writer(path);
    open_wal(writer);
    sqlite::wal_checkpointer checkpointer(writer, 50);
    write_rows(writer, 300);
  }
  sqlite::database again(path);
  CHECK(again.query_int("SELECT count(*) FROM rows") == 6'000);
  sqlite::query check(again, "PRAGMA integrity_check");
  REQUIRE(check.step());
  CHECK(check.get_text(0) == "ok");
}

TEST_CASE("a store on a file runs its checkpoints in the background, one in memory does not") {
  temp_dir dir;
  auto file = sqlite_store::open(dir.file("p.db"));
  file->checkpoint_in_background();
  file->checkpoint_in_background();  // a second call changes nothing
  // ~30,000 contacts in 30 transactions: several times the 1,000-page threshold.
  for (int batch = 0; batch < 30; ++batch) {
    std::vector<contact> cs;
    for (int i = 0; i < 1000; ++i) {
      cs.push_back(pigeon::engine::test::make_contact("+86139" +
                                                      std::to_string(10000000 + batch * 1000 + i)));
      cs.back().attributes["note"] = std::string(100, 'n');
    }
    file->upsert_contacts(cs);
  }
  for (int i = 0; i < 400 && file->background_checkpoints() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(file->background_checkpoints() > 0);

  auto memory = sqlite_store::open(":memory:");
  memory->checkpoint_in_background();
  memory->upsert_contacts({pigeon::engine::test::make_contact("+8613900000001")});
  CHECK(memory->background_checkpoints() == 0);
}
