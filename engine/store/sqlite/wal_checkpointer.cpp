#include "engine/store/sqlite/wal_checkpointer.hpp"

#include <sqlite3.h>

#include "engine/store/sqlite/database.hpp"

namespace pigeon::engine::sqlite {

wal_checkpointer::wal_checkpointer(database& writer, int threshold_pages, int restart_pages)
    : writer_(writer),
      own_(std::make_unique<database>(writer.path())),
      threshold_(threshold_pages),
      restart_(restart_pages) {
  own_->exec("PRAGMA busy_timeout = 5000");
  // The checkpoint's fsync of the database file follows the checkpointing connection's
  // setting: as durable as the writer's.
  own_->exec("PRAGMA synchronous = FULL");
  // Replaces the writer's automatic checkpoint (sqlite3_wal_hook and wal_autocheckpoint share
  // one slot).
  sqlite3_wal_hook(writer_.handle(), &wal_checkpointer::on_commit, this);
  thread_ = std::thread([this] { run(); });
}

wal_checkpointer::~wal_checkpointer() {
  // Back to SQLite's automatic checkpoint for whatever the writer commits after this.
  sqlite3_wal_autocheckpoint(writer_.handle(), 1000);
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

wal_checkpointer::stats wal_checkpointer::counts() const {
  std::lock_guard lock(mu_);
  return stats_;
}

int wal_checkpointer::on_commit(void* self_ptr, sqlite3* db, const char* schema, int wal_pages) {
  auto* self = static_cast<wal_checkpointer*>(self_ptr);
  if (wal_pages >= self->restart_) {
    {
      // No new pass by the thread: SQLite runs one checkpoint at a time, and while the thread's
      // runs the writer's attempt returns SQLITE_BUSY (it tries again at its next commit).
      std::lock_guard lock(self->mu_);
      self->requested_ = false;
      ++self->stats_.on_writer;
    }
    // Copies what the thread has not yet copied, so the next transaction starts the WAL over.
    sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    return SQLITE_OK;
  }
  if (wal_pages >= self->threshold_) {
    {
      std::lock_guard lock(self->mu_);
      self->requested_ = true;
    }
    self->wake_.notify_one();
  }
  return SQLITE_OK;
}

void wal_checkpointer::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait(lock, [this] { return requested_ || stopping_; });
    if (stopping_) return;
    requested_ = false;
    lock.unlock();
    int rc = sqlite3_wal_checkpoint_v2(own_->handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                                       nullptr);
    lock.lock();
    ++stats_.background;
    if (rc != SQLITE_OK) ++stats_.failed;
  }
}

}  // namespace pigeon::engine::sqlite
