// The catalog: every scenario x model x variant that exists, the function that runs it, and the
// counters it reports. `tvl list`, `tvl run`, `tvl broker`, the sweeps, tvl-bench and the smoke
// tests all read these tables: a variant added here appears in each of them.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "load/fanout_point.hpp"
#include "measure/metrics.hpp"
#include "scenarios/ceiling.hpp"
#include "scenarios/cutlery.hpp"
#include "scenarios/echo.hpp"
#include "scenarios/fanout.hpp"
#include "scenarios/naming.hpp"
#include "scenarios/primitives.hpp"
#include "scenarios/restaurant.hpp"

namespace tvl::catalog {

struct CutleryVariant {
  std::string_view model;
  std::string_view variant;
  cutlery::TrialFn run;
  bool loses_updates;     // what the lesson expects: true for the racy ones
  std::string_view what;  // one line for `tvl list`
};

std::span<const CutleryVariant> cutlery_variants();

// nullptr when there is no such model/variant.
const CutleryVariant* find_cutlery(std::string_view model, std::string_view variant);

// Runs p.trials trials, checks each did the work it claims (throws if not) and summarises.
cutlery::Summary run_cutlery(const cutlery::Params& p);

// What the trials cost the process: context switches per trial and the resident set after.
struct ProcessCost {
  double vcsw_per_trial = 0, ivcsw_per_trial = 0;
  double rss_kib = 0;
  static ProcessCost since(const metrics::Usage& before, int trials);  // from `before` until now
};

// Runs p.trials trials like run_cutlery and also says what they cost the process.
cutlery::Summary run_cutlery(const cutlery::Params& p, ProcessCost& cost);

// The name of a cutlery point: cutlery/<model>/<variant>/tables:<n>.
std::string cutlery_name(const cutlery::Params& p);

// The counters of a cutlery point, the one list tvl-bench and `tvl run --json` both write.
using Counters = std::vector<std::pair<std::string, double>>;
Counters cutlery_counters(const cutlery::Params& p, const cutlery::Summary& s, const ProcessCost& cost);

// The summary as JSON: name, params, those counters, context.
nlohmann::json to_json(const cutlery::Params& p, const cutlery::Summary& s, const ProcessCost& cost);

struct RestaurantVariant {
  std::string_view model;
  std::string_view variant;
  restaurant::RunFn run;
  std::string_view what;
  std::string_view chatty = {};  // the chatty-guest modes tvl-bench runs it with besides "none" (comma-separated)
};

std::span<const RestaurantVariant> restaurant_variants();
const RestaurantVariant* find_restaurant(std::string_view model, std::string_view variant);

// Runs one restaurant, checks it did the work it claims (throws if not).
restaurant::Result run_restaurant(const restaurant::Params& p);

// The name of a restaurant run: restaurant/<model>/<variant>/staff:<s>/chatty:<c>/tables:<n>.
std::string restaurant_name(const restaurant::Params& p);

// The counters of a restaurant run, with the names every scenario uses (p50_us, rss_kib...).
Counters restaurant_counters(const restaurant::Params& p, const restaurant::Result& r);

// A restaurant run as JSON: name, params, counters, context.
nlohmann::json to_json(const restaurant::Params& p, const restaurant::Result& r);

// The primitives scenario's mechanisms (scenarios/primitives.hpp): switches, creations, and
// kinds of waiting task.
std::span<const primitives::Mechanism> primitive_switches();
std::span<const primitives::Mechanism> primitive_creates();
std::span<const primitives::Waiter> primitive_waiters();

// The kinds of task the ceiling climbs with (`tvl ceiling`): a thread with the default stack,
// a thread with a small one, a coroutine. Names: ceiling/<model>/<variant>/tasks:<N>.
struct CeilingKind {
  std::string_view model, variant, what;
  ceiling::HoldFn hold;
  bool is_thread;    // takes a pid, a stack and its mappings
  bool small_stack;  // its stack is `tvl ceiling --small-stack-kib`, not the default
};
std::span<const CeilingKind> ceiling_kinds();

// The fan-out brokers: tvl's own (run in process by `tvl broker`) and the peers it is
// compared with (their own programs, started by load/fanout_point).
struct FanoutVariant {
  std::string_view model;   // threads | asyncloop | asyncloop-mt | redis | python | python-uvloop
  std::string_view design;  // naive | improved for tvl's brokers; "peer" for the others
  fanout::BrokerFn broker;  // nullptr for a peer
  bool benched;             // one of tvl-bench's fan-out rows
  std::string_view what;
};

std::span<const FanoutVariant> fanout_variants();
const FanoutVariant* find_fanout(std::string_view model, std::string_view design);
// Every fan-out model once, in catalog order (for --model choices).
std::vector<std::string> fanout_models();
// The models tvl runs in process (`tvl broker --model`).
std::vector<std::string> fanout_broker_models();

// One checked fan-out point: the broker as a child process, the load against it. Throws
// std::invalid_argument for a model/design the catalog does not have, and std::runtime_error
// when the point did not do the work it claims (loss, impossible counts, a stalled publisher).
fanout_point::Point run_fanout(const fanout_point::Target& t, const load::Params& lp);

// The name every fan-out row has: fanout/<model>/<design>/[slow:<n>/]subscribers:<n>.
std::string fanout_name(const fanout_point::Target& t, const load::Params& lp);

// The counters of a load run (`tvl load`), with the names every scenario uses.
Counters load_counters(const load::Params& p, const load::Result& r);

// The counters of a fan-out point: the load's, then the broker's own as broker_<counter>.
Counters fanout_counters(const load::Params& lp, const fanout_point::Point& point);

// A fan-out point as JSON: name, params, counters (the load's, then broker_*), context.
nlohmann::json to_json(const fanout_point::Target& t, const load::Params& lp, const fanout_point::Point& point,
                       const fanout_point::Placement& where);

// The echo server (book ch. 3, Example 3-30): a line in, the line upper-cased back.
struct EchoVariant {
  std::string_view model;  // threads | pool | asyncloop | asyncloop-mt
  std::string_view variant;
  echo::ServerFn serve;
  echo::Offload offload;  // where the event loop runs a request's work and wait
  std::string_view what;
};

std::span<const EchoVariant> echo_variants();
// The model's variant of that name (its first one when `variant` is empty); nullptr if none.
const EchoVariant* find_echo(std::string_view model, std::string_view variant = {});
// Every echo model once, in catalog order (for --model choices).
std::vector<std::string> echo_models();

// The scenarios, and every model/variant of each, for `tvl list`.
struct ScenarioInfo {
  std::string_view name;
  std::string_view what;
};
std::span<const ScenarioInfo> scenarios();

struct Listing {
  std::string_view scenario, model, variant, what;
  std::string_view kind = {};  // primitives: switch, creation or memory
};
const std::vector<Listing>& listing();

}  // namespace tvl::catalog
