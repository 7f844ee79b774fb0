// The cutlery domain: the invariant check, the work check and the replayed interleaving.
#include <gtest/gtest.h>

#include "catalog/catalog.hpp"
#include "scenarios/cutlery.hpp"

using namespace tvl::cutlery;

TEST(domain, kitchen_intact_only_at_100_and_100) {
  Trial t;
  t.kitchen_knives = 100;
  t.kitchen_forks = 100;
  EXPECT_TRUE(kitchen_intact(t));
  t.kitchen_knives = 96;
  EXPECT_FALSE(kitchen_intact(t));
  t.kitchen_knives = 100;
  t.kitchen_forks = 104;
  EXPECT_FALSE(kitchen_intact(t));
}

TEST(domain, check_work_refuses_short_runs) {
  Params p;
  p.bots = 10;
  p.tables = 50;
  Trial t;
  t.bots_started = 10;
  t.table_ops = 1000;
  t.seconds = 0.01;
  EXPECT_NO_THROW(check_work(p, t));
  t.bots_started = 9;
  EXPECT_THROW(check_work(p, t), std::runtime_error);
  t.bots_started = 10;
  t.table_ops = 999;
  EXPECT_THROW(check_work(p, t), std::runtime_error);
}

TEST(domain, summarize_counts_failures_and_drift) {
  std::vector<Trial> trials(4);
  for (auto& t : trials) t.kitchen_knives = 100, t.kitchen_forks = 100, t.table_ops = 10, t.seconds = 0.5;
  trials[1].kitchen_knives = 96;
  trials[2].kitchen_forks = 108;
  const Summary s = summarize(trials);
  EXPECT_EQ(s.trials, 4);
  EXPECT_EQ(s.failures, 2);
  EXPECT_DOUBLE_EQ(s.fail_rate, 0.5);
  EXPECT_DOUBLE_EQ(s.drift_knives, 1.0);
  EXPECT_DOUBLE_EQ(s.drift_forks, 2.0);
  EXPECT_DOUBLE_EQ(s.items_per_second, 20.0);
  EXPECT_LT(s.fail_lo, 0.5);
  EXPECT_GT(s.fail_hi, 0.5);
}

TEST(domain, racy_change_is_exact_without_interleaving) {
  Cutlery kitchen(100, 100), bot(0, 0);
  for (int i = 0; i < 1000; ++i) {
    give(kitchen, bot, 4, 4, Update::racy);
    give(bot, kitchen, 4, 4, Update::racy);
  }
  EXPECT_EQ(kitchen.knives(), 100);
  EXPECT_EQ(bot.forks(), 0);
}

TEST(explain, interleaved_schedule_loses_one_update) {
  std::vector<std::string> lines;
  const int serial = replay({{0, Step::read}, {0, Step::write}, {1, Step::read}, {1, Step::write}}, lines);
  EXPECT_EQ(serial, 92);
  lines.clear();
  const int lost = replay({{0, Step::read}, {1, Step::read}, {1, Step::write}, {0, Step::write}}, lines);
  EXPECT_EQ(lost, 96);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_NE(lines[3].find("lost"), std::string::npos) << lines[3];
  EXPECT_THROW(replay({{0, Step::write}}, lines), std::invalid_argument);
}

TEST(explain, text_is_deterministic_and_names_the_loss) {
  const std::string a = explain(), b = explain();
  EXPECT_EQ(a, b);
  EXPECT_NE(a.find("96 knives"), std::string::npos);
  EXPECT_NE(a.find("92 knives"), std::string::npos);
}

TEST(catalog, every_model_of_the_spec_is_listed) {
  for (const char* mv : {"threads/racy", "threads/mutex", "threads/atomic", "tbb/racy", "tbb/safe", "asyncloop/racy",
                         "asyncloop/await-inside", "asyncloop-mt/nostrand", "asyncloop-mt/strand"}) {
    const std::string s = mv;
    const auto slash = s.find('/');
    EXPECT_NE(tvl::catalog::find_cutlery(s.substr(0, slash), s.substr(slash + 1)), nullptr) << s;
  }
  EXPECT_EQ(tvl::catalog::find_cutlery("threads", "nope"), nullptr);
}

TEST(catalog, json_uses_the_benchmark_counter_names) {
  Params p;
  p.model = "threads";
  p.variant = Variant::atomic;
  p.tables = 5;
  p.trials = 2;
  tvl::catalog::ProcessCost cost;
  const auto s = tvl::catalog::run_cutlery(p, cost);
  const auto j = tvl::catalog::to_json(p, s, cost);
  EXPECT_EQ(j["name"], "cutlery/threads/atomic/tables:5");
  // The very list tvl-bench reports: one definition of the counters.
  const auto counters = tvl::catalog::cutlery_counters(p, s, cost);
  EXPECT_EQ(j["counters"].size(), counters.size());
  for (const auto& [key, value] : counters) EXPECT_EQ(j["counters"].value(key, -1.0), value) << key;
  for (const char* key : {"fail_rate", "fail_lo", "fail_hi", "items_per_second", "trials", "failures", "drift_knives",
                          "drift_forks", "os_threads", "vcsw", "ivcsw", "rss_kib"})
    EXPECT_TRUE(j["counters"].contains(key)) << key;
  EXPECT_GT(j["counters"]["rss_kib"].get<double>(), 0);
  EXPECT_EQ(j["counters"]["failures"], 0);
  EXPECT_TRUE(j["context"].contains("git_revision"));
}

TEST(domain, variant_names_parse_once_and_name_back) {
  for (const Variant v : {Variant::racy, Variant::mutex, Variant::atomic, Variant::safe, Variant::await_inside,
                          Variant::nostrand, Variant::strand})
    EXPECT_EQ(parse_variant(name_of(v)), v);
  EXPECT_STREQ(name_of(Variant::await_inside), "await-inside");
  EXPECT_THROW(parse_variant("nope"), std::invalid_argument);
}
