#include "engine/campaign/ab_decision.hpp"

#include <doctest/doctest.h>

using namespace pigeon::engine;
using namespace pigeon::engine::campaign;

TEST_CASE("the two-proportion z-test gives the textbook p-value") {
  // 12% of 1000 vs 9% of 1000: z = 2.188, two-sided p = 0.0287.
  auto p = two_proportion_p_value(120, 1000, 90, 1000);
  REQUIRE(p);
  CHECK(*p == doctest::Approx(0.02865).epsilon(0.001));
  CHECK(*two_proportion_p_value(100, 1000, 100, 1000) == doctest::Approx(1.0));
  CHECK_FALSE(two_proportion_p_value(0, 1000, 0, 1000));  // no variance
  CHECK_FALSE(two_proportion_p_value(1, 0, 1, 10));       // empty group
}

TEST_CASE("variants are compared on the metric's reply keyword or event, leader first") {
  std::vector<variant_stats> stats{
      {"A", 1000, 1000, 990, {{"1", 90}, {"T", 5}}, {{"purchase", 30}}},
      {"B", 1000, 1000, 985, {{"1", 120}}, {{"purchase", 31}}},
      {"holdout", 200, 0, 0, {}, {{"purchase", 2}}},
  };
  auto replies = compare_variants(stats, "reply:1");
  CHECK(replies.leader == "B");
  CHECK(replies.runner_up == "A");
  REQUIRE(replies.p_value);
  CHECK(*replies.p_value == doctest::Approx(0.02865).epsilon(0.001));
  CHECK(replies.significant);
  auto purchases = compare_variants(stats, "event:purchase");
  CHECK(purchases.leader == "B");
  CHECK_FALSE(purchases.significant);  // 3.1% vs 3.0%
  CHECK(purchases.conversions.back() == std::pair<std::string, std::int64_t>{"holdout", 2});
}

TEST_CASE("a significantly better variant wins; a close race has no winner and says why") {
  ab_decision test;
  test.campaign = "c";
  test.metric = "reply:1";
  test.decide_after = std::chrono::hours(48);
  auto now = *parse_iso("2030-01-09T00:00:00Z");
  test.first_send = now - std::chrono::hours(48);
  std::vector<variant_stats> clear{{"A", 500, 500, 490, {{"1", 20}}, {}},
                                   {"B", 500, 500, 495, {{"1", 80}}, {}}};
  auto d = decide_ab_test(test, clear, now);
  CHECK(d.winner == "B");
  CHECK(d.runner_up == "A");
  CHECK(d.decided_at == now);
  REQUIRE(d.p_value);
  CHECK(*d.p_value < 1e-6);
  CHECK(d.reason.find("B beats A on reply:1 (A 20/500, B 80/500), p = ") == 0);
  std::vector<variant_stats> close{{"A", 500, 500, 490, {{"1", 40}}, {}},
                                   {"B", 500, 500, 495, {{"1", 45}}, {}}};
  auto none = decide_ab_test(test, close, now);
  CHECK(none.winner.empty());
  CHECK(none.reason.find("no winner: B leads A") == 0);
  // On `delivered`: A delivered more.
  test.metric = "delivered";
  std::vector<variant_stats> delivery{{"A", 1000, 1000, 990, {}, {}},
                                      {"B", 1000, 1000, 900, {}, {}}};
  CHECK(decide_ab_test(test, delivery, now).winner == "A");
}

TEST_CASE(
    "no decision before decide_after nor below min_per_variant: the test is looked at again") {
  ab_decision test;
  test.campaign = "c";
  test.metric = "reply:1";
  test.decide_after = std::chrono::hours(48);
  auto now = *parse_iso("2030-01-09T00:00:00Z");
  std::vector<variant_stats> clear{{"A", 500, 60, 60, {{"1", 2}}, {}},
                                   {"B", 500, 140, 140, {{"1", 60}}, {}}};
  // Nothing sent by a step with variants yet.
  auto waiting = decide_ab_test(test, clear, now);
  CHECK_FALSE(waiting.decided_at);
  CHECK(waiting.next_check == now + ab_recheck_interval);
  // Sent, but decide_after has not passed since.
  test.first_send = now - std::chrono::hours(47);
  auto early = decide_ab_test(test, clear, now);
  CHECK_FALSE(early.decided_at);
  CHECK(early.next_check == now + std::chrono::hours(1));
  // Time has come, but A has 60 sends of the 100 it needs: B's lead is no decision yet.
  test.first_send = now - std::chrono::hours(48);
  auto thin = decide_ab_test(test, clear, now);
  CHECK_FALSE(thin.decided_at);
  CHECK(thin.winner.empty());
  CHECK(thin.next_check == now + ab_recheck_interval);
  CHECK(thin.reason ==
        "not yet: each variant needs min_per_variant 100 sends (A 60 sent); the split goes on");
  CHECK(describe_ab_decision(thin).find("; next check ") != std::string::npos);
  // Enough evidence: decided.
  test.min_per_variant = 60;
  auto d = decide_ab_test(test, clear, now);
  CHECK(d.decided_at == now);
  CHECK(d.winner == "B");
  CHECK_FALSE(d.next_check);
}
