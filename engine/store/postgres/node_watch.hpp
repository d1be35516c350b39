#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "engine/model/model.hpp"

namespace pigeon::engine::dispatch {
struct dispatcher_options;
}  // namespace pigeon::engine::dispatch

namespace pigeon::engine::postgres {

class postgres_store;

// The survivors' watch over the other nodes of one PostgreSQL database. Every node runs it after
// each of its heartbeats (dispatcher_options::after_heartbeat, every 5 s): a node whose last
// heartbeat is older than `silent_for` (15 s: three missed beats) and that did not stop cleanly
// is dead, and the first survivor to see it recovers its work (postgres_store::recover_owner):
// its leases are claimable at once, its unknown outcomes (`submitting`) become `retry` after
// reconcile_grace, flagged maybe_duplicate, so a delivery receipt arriving meanwhile reconciles
// them instead of a resend. The node's row records who recovered it and when (recovered_by,
// recovered_at), so it is recovered once; a node that beats again afterwards (it was cut off,
// not dead) is watched again like any other.
//
// Survivors watching at once take a dead node's row with FOR UPDATE SKIP LOCKED: one recovers
// it, the others pass.
struct recovered_node {
  std::string name;
  time_point last_heartbeat{};
  std::size_t released = 0;  // leases made claimable
  std::size_t unknown = 0;   // submitting rows scheduled for resend after the grace
};

// Runs in one transaction of `s` (the node's store, on its writer thread). `self` is this node's
// name (never recovered by itself); `now` real time. Throws store_error.
std::vector<recovered_node> recover_silent_nodes(postgres_store& s, const std::string& self,
                                                 time_point now,
                                                 std::chrono::milliseconds silent_for,
                                                 std::chrono::milliseconds reconcile_grace);

// What makes a `pigeon serve` on PostgreSQL one node among several, set on its dispatcher's
// options (owner already set to the node's name): each paced lane shares its provider's rate
// with the other nodes (a postgres_rate_budget on a connection of its own, to `url`), and after
// each heartbeat the node recovers the nodes silent for node_silent_for, logging each ("recovered
// node N: ..."). Throws store_error when the budget's connection cannot be opened.
inline constexpr std::chrono::seconds node_silent_for{15};
void join_nodes(dispatch::dispatcher_options& options, const std::string& url,
                std::chrono::milliseconds reconcile_grace);

}  // namespace pigeon::engine::postgres
