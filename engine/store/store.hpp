#pragma once

#include "engine/store/ab_store.hpp"
#include "engine/store/campaign_store.hpp"
#include "engine/store/contact_store.hpp"
#include "engine/store/inbound_store.hpp"
#include "engine/store/journey_store.hpp"
#include "engine/store/queue_store.hpp"
#include "engine/store/report_store.hpp"
#include "engine/store/transactions.hpp"

namespace pigeon::engine {

// The durable state of pigeon, whole: every narrow interface one backend implements (SQLite:
// engine/store/sqlite/sqlite_store.hpp). Code that needs one part takes that part's interface; this
// aggregate is for what owns a backend (the CLI's context, async_store's writer thread) and for
// code that genuinely spans parts (apply writes campaigns, contacts and the queue in one
// transaction).
//
// Each interface's contract is pinned by its conformance suite (tests/store/conformance/, one
// <interface>_test.cpp per interface), which every backend passes.
class store : public queue_store,
              public campaign_store,
              public ab_store,
              public contact_store,
              public inbound_store,
              public journey_store,
              public report_store {};

}  // namespace pigeon::engine
