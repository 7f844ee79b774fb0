// The cutlery domain: checking a trial, summarising trials, and replaying a lost update.
#include "scenarios/cutlery.hpp"

#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "measure/stats.hpp"
#include "scenarios/names.hpp"

namespace tvl::cutlery {

namespace {

constexpr std::array<std::string_view, 7> kVariantNames = {"racy",         "mutex",    "atomic", "safe",
                                                           "await-inside", "nostrand", "strand"};

}  // namespace

Variant parse_variant(std::string_view name) { return parse_name<Variant>(kVariantNames, name, "cutlery variant"); }

const char* name_of(Variant v) { return kVariantNames[static_cast<std::size_t>(v)].data(); }

Update update_for(Variant v) {
  if (v == Variant::mutex) return Update::locked;
  if (v == Variant::atomic || v == Variant::safe) return Update::atomic;
  return Update::racy;
}

void require_variant(const Params& p, std::initializer_list<Variant> known) {
  for (const Variant v : known)
    if (v == p.variant) return;
  throw std::invalid_argument("cutlery/" + p.model + ": no variant '" + name_of(p.variant) + "'");
}

std::int64_t expected_ops(const Params& p) { return std::int64_t{2} * p.tables * p.bots; }

void check_work(const Params& p, const Trial& t) {
  if (t.bots_started != p.bots)
    throw std::runtime_error(
        fmt::format("cutlery/{}/{}: {} of {} bots started", p.model, name_of(p.variant), t.bots_started, p.bots));
  if (t.table_ops != expected_ops(p))
    throw std::runtime_error(fmt::format("cutlery/{}/{}: {} table operations done, {} asked", p.model,
                                         name_of(p.variant), t.table_ops, expected_ops(p)));
  if (!(t.seconds > 0.0))
    throw std::runtime_error(fmt::format("cutlery/{}/{}: trial reported no elapsed time", p.model, name_of(p.variant)));
}

bool kitchen_intact(const Trial& t) { return t.kitchen_knives == kKitchenKnives && t.kitchen_forks == kKitchenForks; }

Summary summarize(const std::vector<Trial>& trials) {
  Summary s;
  s.trials = static_cast<int>(trials.size());
  for (const Trial& t : trials) {
    s.failures += kitchen_intact(t) ? 0 : 1;
    s.drift_knives += std::abs(t.kitchen_knives - kKitchenKnives);
    s.drift_forks += std::abs(t.kitchen_forks - kKitchenForks);
    s.table_ops += t.table_ops;
    s.seconds += t.seconds;
    s.os_threads = std::max(s.os_threads, t.os_threads);
  }
  if (s.trials > 0) {
    s.fail_rate = static_cast<double>(s.failures) / s.trials;
    s.drift_knives /= s.trials;
    s.drift_forks /= s.trials;
  }
  const auto ci = stats::wilson(s.failures, s.trials);
  s.fail_lo = ci.lo;
  s.fail_hi = ci.hi;
  s.items_per_second = s.seconds > 0 ? static_cast<double>(s.table_ops) / s.seconds : 0.0;
  return s;
}

int replay(const std::vector<Step>& schedule, std::vector<std::string>& out) {
  Cutlery kitchen(kKitchenKnives, kKitchenForks);
  int seen[2] = {-1, -1};  // what each bot read, held in its "register" until it writes
  int last_bot = -1;
  for (const Step& s : schedule) {
    if (s.bot < 0 || s.bot > 1) throw std::invalid_argument("replay: two bots, numbered 0 and 1");
    const std::string who = fmt::format("bot {}", s.bot + 1);
    const std::string sw = (last_bot != -1 && last_bot != s.bot) ? "  <- switch" : "";
    last_bot = s.bot;
    if (s.kind == Step::read) {
      seen[s.bot] = kitchen.read_knives();
      out.push_back(fmt::format("{:<6} reads  kitchen.knives = {}{}", who, seen[s.bot], sw));
    } else {
      if (seen[s.bot] < 0) throw std::invalid_argument("replay: a bot writes before it reads");
      const int before = kitchen.read_knives();
      const int value = seen[s.bot] - kPerTable;
      kitchen.write(value, kitchen.read_forks());
      std::string note;
      if (before != seen[s.bot]) note = fmt::format("   (it overwrites {}: the other bot's update is lost)", before);
      out.push_back(
          fmt::format("{:<6} writes kitchen.knives = {} - {} = {}{}{}", who, seen[s.bot], kPerTable, value, note, sw));
      seen[s.bot] = -1;
    }
  }
  return kitchen.read_knives();
}

std::string explain() {
  const std::vector<Step> serial = {{0, Step::read}, {0, Step::write}, {1, Step::read}, {1, Step::write}};
  const std::vector<Step> lost = {{0, Step::read}, {1, Step::read}, {1, Step::write}, {0, Step::write}};
  std::string text = fmt::format(
      "Robots and cutlery: how an update is lost\n"
      "\n"
      "The kitchen starts with {} knives. Two bots each prepare a table, so each takes {} knives.\n"
      "change() is two steps: read the count, then write back the count minus {}.\n"
      "Afterwards the kitchen should hold {} - 2 x {} = {} knives.\n",
      kKitchenKnives, kPerTable, kPerTable, kKitchenKnives, kPerTable, kKitchenKnives - 2 * kPerTable);
  auto show = [&](const char* title, const std::vector<Step>& schedule) {
    std::vector<std::string> lines;
    const int left = replay(schedule, lines);
    text += fmt::format("\n{}\n", title);
    for (std::size_t i = 0; i < lines.size(); ++i) text += fmt::format("  step {}  {}\n", i + 1, lines[i]);
    text += fmt::format("  result: {} knives in the kitchen ({})\n", left,
                        left == kKitchenKnives - 2 * kPerTable
                            ? "correct"
                            : fmt::format("{} knives appeared from nowhere", left - (kKitchenKnives - 2 * kPerTable)));
  };
  show("1. One bot finishes change() before the other starts:", serial);
  show("2. The other bot runs between the read and the write:", lost);
  text +=
      "\nWho decides where the switch happens?\n"
      "  threads:      the OS scheduler, or simply the other core, at any instruction. Schedule 2\n"
      "                happens rarely per call, so a few tables usually pass; 10,000 almost never.\n"
      "  asyncloop:    only a co_await can switch. change() has none, so schedule 2 cannot happen\n"
      "                on one thread, whatever N is.\n"
      "  await-inside: put a co_await between the read and the write and the loop itself produces\n"
      "                schedule 2 on every table: an event loop removes data races, not atomicity\n"
      "                bugs across suspension points.\n"
      "  asyncloop-mt: one io_context run by several threads is threads again, unless the bots share\n"
      "                a strand, which runs their handlers one at a time.\n"
      "\nSee it measured: tvl run cutlery --model threads --variant racy --tables 10000 --trials 100\n";
  return text;
}

}  // namespace tvl::cutlery
