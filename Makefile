# Thin wrapper over CMake and the scripts: every target installs what it needs first.
BUILD      ?= build
BUILD_TEST ?= build-test
BUILD_BENCH?= build-bench
BUILD_FUZZ ?= build-fuzz
FUZZ_SECONDS ?= 60
JOBS       ?= 2
PY         := /usr/bin/python3

.PHONY: deps build build-test up down test unit bench clean fuzz

deps:
	scripts/deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTASKBUS_SANITIZE=OFF >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

build-test: deps
	cmake -S . -B $(BUILD_TEST) -DCMAKE_BUILD_TYPE=Debug -DTASKBUS_SANITIZE=ON >/dev/null
	cmake --build $(BUILD_TEST) -j$(JOBS)

# Start redis-server, FerretDB and the daemons locally (state under .state/), wait for GET /, print how to use it.
up: build
	$(PY) tests/stack.py up --build $(BUILD)

down:
	$(PY) tests/stack.py down

# Unit and integration tests under AddressSanitizer and UndefinedBehaviorSanitizer, 30 s of each fuzzer, a short
# `make chaos`, then the Docker Swarm test
# (it reports itself skipped, with the reason, where no Docker Engine answers).
test: build-test
	cd $(BUILD_TEST) && ctest --output-on-failure
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=30
	$(PY) bench/chaos.py --short --build $(BUILD_TEST)
	$(PY) tests/swarm/swarm_test.py

unit: build-test
	cd $(BUILD_TEST) && ctest --output-on-failure -L unit

bench: deps
	cmake -S . -B $(BUILD_BENCH) -DCMAKE_BUILD_TYPE=Release -DTASKBUS_SANITIZE=OFF >/dev/null
	cmake --build $(BUILD_BENCH) -j$(JOBS)
	$(PY) bench/bench.py --build $(BUILD_BENCH)
	$(PY) bench/ceiling.py --build $(BUILD_BENCH)
	$(PY) bench/overhead.py --build $(BUILD_BENCH)
	$(PY) bench/overhead.py --build $(BUILD_BENCH) --what log
	$(PY) bench/overhead.py --build $(BUILD_BENCH) --what ids

# libFuzzer harnesses of tests/fuzz/ under ASan/UBSan, built with clang in $(BUILD_FUZZ), each run for FUZZ_SECONDS on a
# copy of its seed corpus (scripts/fuzz.sh); exits 1 and prints the reproducer when one finds something.
fuzz: deps
	CC=clang cmake -S . -B $(BUILD_FUZZ) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DTASKBUS_FUZZ=ON >/dev/null
	nice cmake --build $(BUILD_FUZZ) -j$(JOBS) --target fuzz_task fuzz_msg fuzz_router fuzz_json
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh $(BUILD_FUZZ)

clean:
	rm -rf $(BUILD) $(BUILD_TEST) $(BUILD_BENCH) $(BUILD_FUZZ) build-chaos

# Build the images from this checkout, deploy docker-stack.yaml on Docker Swarm (swarm init if needed, left after),
# scale, kill and roll services under ab and a checking load generator, check the answers and the store, clean up.
# Prints "skipped: <reason>" and succeeds where no Docker Engine answers.
.PHONY: swarm-test
swarm-test: deps
	$(PY) tests/swarm/swarm_test.py

# Break a local stack (2 frontends, 2 events, 2 backends per service) under a checking load: SIGKILL/SIGSTOP daemons,
# restart Redis, freeze the store; then check every answer against the event log (bench/chaos.py; CHAOS_REQUESTS,
# CHAOS_SECONDS, CHAOS_WORKERS). Writes bench/results/chaos-latest.md; exits 1 when a task is lost, wrong or doubled.
.PHONY: chaos
chaos: deps
	cmake -S . -B build-chaos -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTASKBUS_SANITIZE=OFF >/dev/null
	cmake --build build-chaos -j$(JOBS)
	$(PY) bench/chaos.py --build build-chaos

# The same ab rows (POST /task, c=10 and c=64, without and with keep-alive) against docker-stack.yaml deployed on
# Docker Swarm (through its lb) and against a local stack of the same replica counts, alternating; reports req/s,
# p50/p99, non-2xx, CPU per answer and the ratio swarm/local in bench/results/swarm-bench-latest.md, and the lb's
# 503s right after the stack reported healthy (bench/swarm_bench.py; SWARM_BENCH_ARGS, e.g. --experiments paths).
.PHONY: swarm-bench
swarm-bench: deps
	cmake -S . -B $(BUILD_BENCH) -DCMAKE_BUILD_TYPE=Release -DTASKBUS_SANITIZE=OFF >/dev/null
	nice cmake --build $(BUILD_BENCH) -j$(JOBS) --target frontend events backend
	$(PY) bench/swarm_bench.py --build $(BUILD_BENCH) $(SWARM_BENCH_ARGS)
