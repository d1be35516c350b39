// sqlite_store: the counts of a campaign report (store::collect_report). One pass over the
// campaign's messages (through the (campaign, step, contact_id) unique index, so the rows come
// grouped by step), then the few rows that add to it: attributed replies (replies_by_campaign),
// opted-out contacts (contacts_opted_out, then each one's messages), goal events
// (events_by_name) and the failures' receipts (messages_by_state). About 0.5 s per million
// messages: no aggregate table is kept, so nothing slows the dispatcher's writes
// (docs/BENCHMARKS.md).
#include "engine/store/report_tally.hpp"
#include "engine/store/sqlite/database.hpp"
#include "engine/store/sqlite/sqlite_store.hpp"

namespace pigeon::engine::sqlite {

report_facts sqlite_store::collect_report(const report_query& rq) {
  report_tally t(rq);
  const std::int64_t window = rq.window.count();
  atomically("report", [&] {
    // 1. The funnel, per step × variant, and the timeline of sends and deliveries. Read through
    // messages_by_state, the campaign's rows come in index order and each costs a look-up in
    // the table; the whole table read in rowid order costs about 2.5 times less per row
    // (sequential pages). So the scan wins once the campaign holds a third of the table (an
    // estimate: the largest rowid stands for the table's size).
    query n(*db_, "SELECT count(*) FROM messages WHERE campaign = ?1");
    n.bind(1, rq.campaign);
    const std::int64_t mine = n.step() ? n.get_int(0) : 0;
    const bool scan = mine * 3 >= db_->query_int("SELECT coalesce(max(rowid), 0) FROM messages");
    query q(*db_,
            std::string("SELECT step, variant, state, sent_at, final_at, segments, provider, "
                        "CASE WHEN state = 'suppressed' THEN reason ELSE '' END FROM messages") +
                (scan ? " NOT INDEXED" : "") + " WHERE campaign = ?1 AND direct_text IS NULL");
    q.bind(1, rq.campaign);
    int row = -1;
    std::string last_provider;
    std::int64_t* provider_segments = nullptr;
    while (q.step()) {
      row = t.row(row, q.get_view(0), q.get_view(1));
      auto state = q.get_view(2);
      t.add_messages(row, state, q.get_view(7),
                     q.is_null(4) ? std::nullopt : std::optional(q.get_int(4)), 1);
      if (q.is_null(3)) continue;
      const std::int64_t sent_at = q.get_int(3);
      const std::int64_t segments = q.get_int(5);
      t.add_sent(row, sent_at, segments, 1);
      ++t.hour(sent_at).sent;
      auto provider = q.get_view(6);
      if (!provider_segments || provider != last_provider) {
        last_provider = std::string(provider);
        provider_segments = &t.provider_segments(last_provider);
      }
      *provider_segments += segments;
      if (state == "delivered" && !q.is_null(4)) {
        const std::int64_t at = q.get_int(4);
        ++t.hour(at).delivered;
        t.add_latency(at - sent_at, 1);
      }
    }

    // 2. Replies attributed to the campaign's messages: recipients per keyword, conversions by
    // goal keyword, the timeline's replies (every reply, in its hour).
    query r(*db_,
            "SELECT m.step, m.variant, m.id, r.contact_id, r.keyword, r.at FROM replies r "
            "JOIN messages m ON m.id = r.message_id WHERE r.campaign = ?1 "
            "AND m.direct_text IS NULL ORDER BY r.at, r.id");
    r.bind(1, rq.campaign);
    while (r.step())
      t.add_reply(r.get_view(0), r.get_view(1), r.get_int(2), r.get_int(3), r.get_text(4),
                  r.get_int(5));

    // 3. Opt-outs within the window after a send (contacts opted out now: a START since
    // clears it). Few contacts are opted out: start from them.
    query o(*db_,
            "SELECT m.step, m.variant, k.opted_out_at FROM contacts k CROSS JOIN messages m "
            "ON m.contact_id = k.id WHERE k.opted_out_at IS NOT NULL AND m.campaign = ?1 "
            "AND m.direct_text IS NULL AND m.sent_at IS NOT NULL "
            "AND k.opted_out_at >= m.sent_at AND k.opted_out_at <= m.sent_at + ?2");
    o.bind(1, rq.campaign).bind(2, window);
    while (o.step()) t.add_opt_out(o.get_view(0), o.get_view(1), o.get_int(2));

    // 4. Goal events within the window after a send.
    if (!rq.goal_events.empty()) {
      std::string names;
      for (std::size_t i = 0; i < rq.goal_events.size(); ++i)
        names += (i ? ", ?" : "?") + std::to_string(i + 3);
      query e(
          *db_,
          "SELECT m.step, m.variant, m.id, e.name, min(e.at) FROM events e CROSS JOIN messages m "
          "ON m.contact_id = e.contact_id WHERE e.name IN (" +
              names +
              ") AND m.campaign = ?1 AND m.direct_text IS NULL AND m.sent_at IS NOT NULL "
              "AND e.at >= m.sent_at AND e.at <= m.sent_at + ?2 GROUP BY m.id, e.name");
      e.bind(1, rq.campaign).bind(2, window);
      for (std::size_t i = 0; i < rq.goal_events.size(); ++i)
        e.bind(static_cast<int>(i + 3), rq.goal_events[i]);
      while (e.step())
        t.add_goal_event(e.get_view(0), e.get_view(1), e.get_int(2), e.get_text(3), e.get_int(4));
    }

    // 5. Carrier error codes of the failed and undelivered messages: the latest receipt's code,
    // else the one in the submit's rejection; a code's example text is its first message's.
    query f(*db_,
            "SELECT m.provider, m.reason, (SELECT r.error_code || char(31) || r.error_text "
            "FROM receipts r WHERE r.message_id = m.id AND r.error_code <> '' "
            "ORDER BY r.id DESC LIMIT 1) FROM messages m WHERE m.campaign = ?1 "
            "AND m.state IN ('failed', 'undelivered') AND m.direct_text IS NULL ORDER BY m.id");
    f.bind(1, rq.campaign);
    while (f.step()) t.add_failure(f.get_text(0), f.get_text(1), f.get_opt_text(2));
  });
  return t.finish();
}

}  // namespace pigeon::engine::sqlite
