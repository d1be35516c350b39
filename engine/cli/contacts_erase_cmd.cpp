// pigeon contacts opt-out / delete: acting on one person.
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <iostream>

#include "engine/cli/contacts_verbs.hpp"
#include "engine/store/postgres/postgres_store.hpp"

namespace pigeon::engine::cli {

namespace {

engine::time_point wall_now() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

// The contact's id, or nullopt after saying there is none.
std::optional<std::int64_t> existing(engine::store& db, const std::string& phone) {
  if (auto c = db.find_contact(phone)) return c->id;
  std::cerr << "pigeon: no contact has phone " << phone << " (`pigeon contacts list` lists them)\n";
  return std::nullopt;
}

bool confirmed(const std::string& phone) {
  std::cerr << "Erase " << phone
            << " for good (contact, replies, events; their messages lose their text)? "
               "Type yes (or pass --yes): ";
  std::string answer;
  std::getline(std::cin, answer);
  return answer == "yes" || answer == "y";
}

}  // namespace

int opt_out_contact(const context& ctx, const std::string& text) {
  auto cfg = ctx.engine_config(false, config::secrets::leave_unset);
  auto phone = phone_argument(text, cfg.default_region);
  if (!phone) return 2;
  auto db = ctx.open_store(cfg);
  auto id = existing(*db, *phone);
  if (!id) return 2;
  // An opt-out already there keeps its time and source (a STOP stays a STOP).
  auto before = db->opt_out_state(*id);
  std::size_t suppressed = before ? 0 : db->opt_out(*id, "manual", wall_now());
  auto state = db->opt_out_state(*id);
  if (!state) throw engine::store_error("the opt-out of " + *phone + " was not recorded");
  if (ctx.json) {
    std::cout << boost::json::serialize(
                     boost::json::object{{"phone", *phone},
                                         {"opted_out_at", engine::format_iso(state->at)},
                                         {"source", state->source},
                                         {"already", before.has_value()},
                                         {"suppressed", suppressed}})
              << "\n";
  } else if (before) {
    std::cout << *phone << " was already opted out since " << engine::format_iso(state->at) << " ("
              << state->source << "); nothing changed\n";
  } else {
    std::cout << "opted out " << *phone << ": " << suppressed
              << " queued messages suppressed; no campaign sends to them until they text START\n";
  }
  return 0;
}

int delete_contact(const context& ctx, const std::string& text, bool yes) {
  auto cfg = ctx.engine_config(false, config::secrets::leave_unset);
  auto phone = phone_argument(text, cfg.default_region);
  if (!phone) return 2;
  auto db = ctx.open_store(cfg);
  if (!existing(*db, *phone)) return 2;
  if (!yes && ::isatty(STDIN_FILENO) && !confirmed(*phone)) {
    std::cerr << "pigeon: nothing erased\n";
    return 1;
  }
  auto r = db->erase_contact(*phone, wall_now());
  if (!r.found) {  // erased meanwhile by another process
    existing(*db, *phone);
    return 2;
  }
  if (!r.refused.empty()) {
    if (ctx.json) {
      boost::json::array busy;
      for (const auto& m : r.refused)
        busy.push_back({{"id", m.id},
                        {"campaign", m.campaign},
                        {"step", m.step},
                        {"state", std::string(engine::to_string(m.state))}});
      std::cout << boost::json::serialize(boost::json::object{
                       {"phone", *phone}, {"erased", false}, {"unsettled", std::move(busy)}})
                << "\n";
    }
    std::cerr << "pigeon: " << *phone << " was not erased: " << r.refused.size()
              << " of their messages may be with a carrier right now, outcome unknown:\n";
    for (const auto& m : r.refused)
      std::cerr << "  message " << m.id << " (" << m.campaign << "/" << m.step << ", "
                << engine::to_string(m.state) << ")\n";
    std::cerr << "Run this again once the engine has settled them (`pigeon serve` does, at once "
                 "after a crash, or when their receipt comes).\n";
    return 1;
  }
  if (ctx.json) {
    std::cout << boost::json::serialize(boost::json::object{{"phone", *phone},
                                                            {"erased", true},
                                                            {"suppressed", r.suppressed},
                                                            {"messages_scrubbed", r.scrubbed},
                                                            {"replies_deleted", r.replies},
                                                            {"events_deleted", r.events},
                                                            {"wal_cleared", r.wal_cleared}})
              << "\n";
  } else {
    std::cout << "erased " << *phone << ": contact, " << r.replies << " replies and " << r.events
              << " events deleted; " << r.scrubbed
              << " messages kept for the counts without text or number (" << r.suppressed
              << " queued ones suppressed)\n";
  }
  // PostgreSQL's write-ahead log is the server's: its old segments are recycled by its own
  // checkpoints, so wal_cleared is always false there and says nothing about other readers.
  if (!r.wal_cleared && postgres::postgres_store::is_url(ctx.database(cfg)))
    std::cerr << "pigeon: the table pages and indexes no longer hold the number; the server's "
                 "write-ahead log keeps it until its checkpoints recycle the log\n";
  else if (!r.wal_cleared)
    std::cerr << "pigeon: another process is reading the database: its write-ahead log keeps "
                 "the old pages until the next checkpoint (the engine makes one within seconds)\n";
  return 0;
}

}  // namespace pigeon::engine::cli
