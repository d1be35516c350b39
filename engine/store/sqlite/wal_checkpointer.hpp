#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

struct sqlite3;

namespace pigeon::engine::sqlite {

class database;

// Moves the bulk of WAL checkpointing off a writer connection onto a thread of its own.
//
// SQLite's automatic checkpoint runs inside the COMMIT that pushes the WAL past 1,000 pages: the
// committing thread (the store's one writer) copies every frame into the database file and
// fsyncs it while each job queued behind it waits. With a checkpointer the writer's automatic
// checkpoint is replaced by a WAL hook that only looks at the WAL's size:
// - from `threshold_pages` on, it wakes this object's thread, which runs PASSIVE checkpoints on
//   its own connection (they never wait for, nor block, the writer or readers) and so copies
//   frames into the database while the writer goes on committing;
// - a passive checkpoint racing a busy writer never catches up with the WAL's end, and SQLite
//   starts the WAL over only once every frame is copied; so at `restart_pages` the writer runs a
//   PASSIVE checkpoint itself, which finds most frames already copied (only the tail and one
//   fsync are left), and its next transaction starts the WAL over. That also bounds the WAL if
//   the thread falls behind (the writer then copies more, as SQLite would have).
//
// Ownership and threading: constructed and destroyed on the thread that owns `writer` while no
// other thread uses it (the hook is installed in the constructor; the destructor gives the
// connection SQLite's automatic checkpoint back); `writer` must outlive this object. The hook
// runs on whatever thread commits on `writer`. A checkpoint that fails (SQLITE_BUSY, I/O) is
// counted and tried again at a later commit: it loses nothing, the frames stay in the WAL.
class wal_checkpointer {
 public:
  struct stats {
    std::int64_t background = 0;  // checkpoints run by the thread
    std::int64_t failed = 0;      // of those, the ones SQLite refused (busy, I/O)
    std::int64_t on_writer = 0;   // checkpoints the writer ran at `restart_pages`
  };

  // Opens a second connection to `writer`'s file (throws store_error). Background checkpoints
  // start once the WAL holds `threshold_pages` (SQLite's own automatic one runs at 1,000).
  explicit wal_checkpointer(database& writer, int threshold_pages = 1000, int restart_pages = 4000);
  ~wal_checkpointer();
  wal_checkpointer(const wal_checkpointer&) = delete;
  wal_checkpointer& operator=(const wal_checkpointer&) = delete;

  stats counts() const;

 private:
  static int on_commit(void* self, ::sqlite3* db, const char* schema, int wal_pages);
  void run();

  database& writer_;
  std::unique_ptr<database> own_;
  const int threshold_;
  const int restart_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool requested_ = false;
  bool stopping_ = false;
  stats stats_;
  std::thread thread_;
};

}  // namespace pigeon::engine::sqlite
