// The ThreadSanitizer check of a grader: the student's code built a second time with
// -fsanitize=thread (the exercise's "-tsan" twin, see exercises/CMakeLists.txt) and run as a
// child. TSan watches every memory access and reports two threads touching the same location,
// at least one writing, with nothing ordering them: a data race, even one that happened to lose
// no update in this run.
#pragma once

#include <cstdlib>
#include <string>
#include <vector>

#include "measure/process.hpp"

namespace tvl::exercise {

struct TsanVerdict {
  bool clean = false;   // exited 0 with no report
  std::string summary;  // TSan's SUMMARY line (file:line of the race), or why the run failed
};

inline TsanVerdict run_tsan_twin(const std::string& twin, const std::vector<std::string>& args,
                                 double timeout_s = 120) {
  // Stop at the first report and exit 66: the SUMMARY line is then the last thing printed.
  ::setenv("TSAN_OPTIONS", "halt_on_error=1:exitcode=66", 1);
  std::vector<std::string> argv{twin};
  argv.insert(argv.end(), args.begin(), args.end());
  const auto o = process::run_child(argv, timeout_s);
  TsanVerdict v;
  v.clean = o.ok && o.output_tail.find("ThreadSanitizer") == std::string::npos;
  const auto at = o.output_tail.rfind("SUMMARY: ThreadSanitizer: ");
  if (at != std::string::npos)
    v.summary = o.output_tail.substr(at + 9, o.output_tail.find('\n', at) - at - 9);
  else if (!o.ok)
    v.summary = "the ThreadSanitizer run failed: " + o.reason();
  else
    v.summary = "no report";
  return v;
}

}  // namespace tvl::exercise
