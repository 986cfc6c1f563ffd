# The project's commands. See README.md.

MODULE := target/release/libredis_mavg.so

.PHONY: deps build run test lint demo clean

deps:
	@scripts/install-deps.sh

build: deps
	cargo build --release

run: build
	redis-server redis.conf

test: build
	MAVG_MODULE=$(abspath $(MODULE)) cargo test --release

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings

demo: build
	scripts/demo.sh

clean:
	cargo clean
