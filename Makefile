# The commands CI and people run. `make run` starts Earshot with a demo; `make test` is what CI runs.
.PHONY: run test lint fmt k8s-check bench model clean-data

run:
	scripts/run.sh

test: lint k8s-check
	scripts/k8s-check-test.sh
	scripts/ensure-packages.sh redis-server=redis-server chromium=chromium chromedriver=chromium-driver
	cargo test --workspace
	scripts/with-postgres.sh cargo test -p earshot-e2e --test e2e

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	scripts/check-layers.sh
	scripts/check-module-cycles.py

fmt:
	cargo fmt --all

# Renders each Kubernetes overlay (k8s/overlays/*) and validates it offline, strictly, against the
# Kubernetes schemas.
k8s-check:
	scripts/k8s-check.sh

# Benchmarks (release build). Uses ../shared/data when present, generated input otherwise:
# the whole pipeline on an Earshot of its own (table on stdout, JSON in target/bench/), then
# classification throughput per core.
TWCS := $(wildcard ../shared/data/twcs_sample.csv)
bench:
	scripts/ensure-redis.sh
	cargo build --release -p earshot-ctl
	target/release/earshotctl bench $(if $(TWCS),--posts-file $(TWCS))
	cargo bench -p earshot-classify --bench classify

# Retrains the built-in sentiment model from the labelled corpora in ../shared/data/train
# (seeded: the same data gives the same bytes). Rebuild earshot-classify afterwards: it embeds it.
model:
	cargo run -q -p earshot-ctl -- train --data ../shared/data/train --out services/classify/model/sentiment.model

clean-data:
	rm -rf data
