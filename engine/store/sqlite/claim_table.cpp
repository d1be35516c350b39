#include "engine/store/sqlite/claim_table.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <functional>

#include "engine/store/store.hpp"

namespace pigeon::engine::sqlite {

bool claim_table::held(std::int64_t id, std::int64_t now_ms) const {
  auto it = claims_.find(id);
  return it != claims_.end() && now_ms <= it->second.until_ms;
}

const claim_table::claim* claim_table::find(std::int64_t id) const {
  auto it = claims_.find(id);
  return it == claims_.end() ? nullptr : &it->second;
}

void claim_table::remember(std::int64_t id) {
  if (marks_.empty()) return;  // outside a transaction nothing can roll back
  auto it = claims_.find(id);
  undo_.emplace_back(id, it == claims_.end() ? std::nullopt : std::optional<claim>(it->second));
}

void claim_table::hold(std::int64_t id, claim c) {
  remember(id);
  claims_[id] = std::move(c);
}

bool claim_table::drop(std::int64_t id, std::optional<std::int64_t> restore_until_ms) {
  auto it = claims_.find(id);
  if (it == claims_.end()) return false;
  remember(id);
  if (restore_until_ms && !undo_.empty() && undo_.back().first == id && undo_.back().second) {
    auto& restored = *undo_.back().second;
    restored.until_ms = std::min(restored.until_ms, *restore_until_ms);
  }
  claims_.erase(it);
  return true;
}

std::size_t claim_table::drop_if(const std::function<bool(const claim&)>& pred) {
  std::vector<std::int64_t> ids;
  for (const auto& [id, c] : claims_)
    if (pred(c)) ids.push_back(id);
  for (auto id : ids) drop(id);
  return ids.size();
}

std::size_t claim_table::drop_owner(const std::string& owner) {
  return drop_if([&](const claim& c) { return c.owner == owner; });
}

std::size_t claim_table::drop_all() {
  return drop_if([](const claim&) { return true; });
}

void claim_table::commit() {
  if (marks_.empty()) return;
  marks_.pop_back();
  // The outermost level committed: its changes are durable as far as memory goes.
  if (marks_.empty()) undo_.clear();
}

void claim_table::rollback() {
  if (marks_.empty()) return;
  const auto mark = marks_.back();
  marks_.pop_back();
  while (undo_.size() > mark) {
    auto& [id, before] = undo_.back();
    if (before)
      claims_[id] = std::move(*before);
    else
      claims_.erase(id);
    undo_.pop_back();
  }
}

namespace {

void claimed_fn(sqlite3_context* ctx, int, sqlite3_value** argv) {
  const auto* table = static_cast<const claim_table*>(sqlite3_user_data(ctx));
  sqlite3_result_int(
      ctx, table->held(sqlite3_value_int64(argv[0]), sqlite3_value_int64(argv[1])) ? 1 : 0);
}

}  // namespace

void claim_table::register_sql_function(sqlite3* db) {
  if (sqlite3_create_function_v2(db, "pigeon_claimed", 2, SQLITE_UTF8 | SQLITE_DIRECTONLY, this,
                                 claimed_fn, nullptr, nullptr, nullptr) != SQLITE_OK)
    throw store_error(std::string("cannot register pigeon_claimed: ") + sqlite3_errmsg(db));
}

}  // namespace pigeon::engine::sqlite
