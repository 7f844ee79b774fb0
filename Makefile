# tvl — the two commands a new user needs:
#   make report   install what is missing, build, run the quick profile, render the report
#   make test     install what is missing, build, run every test
# and, for developers:
#   make sanitize   the test suite under AddressSanitizer+UBSan and under ThreadSanitizer
#   make tsan-demo  ThreadSanitizer catching the plain-int cutlery race (a lesson, not a test)
#   make fuzz [SECONDS=60]  libFuzzer on the frame parser and the RESP parser (fuzz/README.md)
#   make soak       10 million deliveries through each improved broker: nothing lost, RSS flat
# and, for a class (exercises/README.md, docs/course.md):
#   make exercises                         list the exercises
#   make exercise NAME=<name> [SOLUTION=1] build your copy (or the solution) and grade it
#   make report PROFILE=full   the sweeps to the limits

PROFILE ?= quick
SECONDS ?= 60
JOBS ?= 2

.PHONY: all deps build test report sanitize asan tsan tsan-demo fuzz soak exercise exercises clean

all: build

deps:
	@scripts/deps.sh

build: deps
	cmake --preset release
	cmake --build --preset release -j $(JOBS)

test: build
	ctest --preset release

report: build
	scripts/report.sh $(PROFILE) build/release

sanitize: asan tsan

asan tsan: deps
	cmake --preset $@
	cmake --build --preset $@ -j $(JOBS)
	ctest --preset $@

tsan-demo: deps
	cmake -S tests/tsan_demo -B build/tsan-demo -G Ninja
	cmake --build build/tsan-demo
	scripts/tsan-demo.sh build/tsan-demo/cutlery-plain-int

fuzz: deps
	scripts/fuzz.sh $(SECONDS)

soak: build
	scripts/soak.sh build/release

exercises:
	@scripts/exercise.sh list

exercise: deps
	@scripts/exercise.sh grade "$(NAME)" $(if $(SOLUTION),solution)

clean:
	rm -rf build results reports
