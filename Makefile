# The commands CI and people run. `make run` starts Earshot with a demo; `make test` is what CI runs.
.PHONY: run test lint fmt clean-data

run:
	scripts/run.sh

test: lint
	scripts/ensure-redis.sh
	cargo test --workspace

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

clean-data:
	rm -rf data
