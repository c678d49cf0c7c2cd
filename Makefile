# The commands CI and people run. `make run` starts Earshot with a demo; `make test` is what CI runs.
.PHONY: run test lint fmt bench clean-data

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

# Benchmarks (release build). Uses ../shared/data when present, generated input otherwise.
bench:
	cargo bench -p earshot-classify --bench classify

clean-data:
	rm -rf data
